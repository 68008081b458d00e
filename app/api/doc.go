// Package api is the portal's client of the sslens HTTP and websocket API
// (backend/server/API.md). It speaks the wire types of the project's
// shared package and builds both natively and for GOOS=js GOARCH=wasm,
// where net/http goes through the browser's Fetch API and the websocket
// through the browser's WebSocket; the browser then sends the session
// cookie itself.
//
// A Client is safe for concurrent use. It remembers the CSRF token of the
// current session (from Login or Me) and sends it with every
// state-changing request.
package api
