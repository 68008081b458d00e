//go:build !js

package api

import (
	"net/http"

	"github.com/coder/websocket"
)

// dialOptions dials with the client's HTTP client, whose cookie jar holds
// the session.
func dialOptions(hc *http.Client) *websocket.DialOptions {
	return &websocket.DialOptions{HTTPClient: hc}
}
