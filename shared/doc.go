// Package shared is the wire types of the sslens portal: the JSON bodies
// (request and response DTOs) of the HTTP API under /api/, the websocket
// messages of /api/ws, and the enums both sides name (roles, run kinds and
// states, event and metric kinds, error codes). The server (backend/server)
// encodes them and the app (app/) decodes them, so both sides agree by
// construction; nothing else belongs here. backend/server/API.md lists the routes
// that carry each type.
//
// The package uses the standard library only and builds for GOOS=js
// GOARCH=wasm. Conventions on the wire:
//
//   - Times are RFC 3339 strings in UTC (time.Time's JSON form).
//   - IDs of rows (runs, datasets, checkpoints, uploads) are positive int64;
//     0 means "none" where a field is optional.
//   - Rates and probabilities are fractions in [0, 1], never percent.
//   - []byte fields (PNG images) travel as standard base64 strings.
//   - Angles are degrees, sky positions and sizes arcsec, fluxes the units
//     of the dataset's files (counts per second at the survey zero point
//     for simulated data).
package shared
