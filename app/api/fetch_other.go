//go:build !js

package api

import "net/http"

// sender returns hc, or http.DefaultClient when nil.
func sender(hc *http.Client) doer {
	if hc == nil {
		return http.DefaultClient
	}
	return hc
}
