//go:build js

package api

import (
	"net/http"

	"github.com/coder/websocket"
)

// dialOptions: the browser's WebSocket sends the page's cookies itself.
func dialOptions(*http.Client) *websocket.DialOptions { return nil }
