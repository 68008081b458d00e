package configs

import _ "embed"

// SeedResults is reference/seed-results.json: the reference project's
// published test results (method, backbone, labels, accuracy in percent,
// AUC) with their source and leakage caveat, which `sslens reproduce`
// shows beside its own.
//
//go:embed reference/seed-results.json
var SeedResults string

// ReproduceCPU is the reproduce config `sslens reproduce` runs when given
// none, the CPU preset.
const ReproduceCPU = "reproduce-cpu.yaml"
