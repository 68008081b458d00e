// Command wasm is the sslens portal as it runs in the browser: build it
// with `make wasm` (GOOS=js GOARCH=wasm go build -o web/app.wasm
// ./app/cmd/wasm); the server (backend/webapp) serves it. It holds no
// server code, which keeps the download small.
package main

import (
	"fmt"
	"os"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/app/api"
	"github.com/sslens/sslens/app/ui"
)

func main() {
	if app.IsServer {
		fmt.Fprintln(os.Stderr, "sslens portal: build this command with GOOS=js GOARCH=wasm; `sslens serve` serves it")
		os.Exit(2)
	}
	u := app.Window().URL()
	// net/http in WebAssembly goes through fetch, which sends the session
	// cookie to the page's own origin.
	ui.RegisterRoutes(ui.NewEnv(api.New(u.Scheme+"://"+u.Host, nil)))
	app.RunWhenOnBrowser()
}
