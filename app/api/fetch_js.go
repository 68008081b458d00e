//go:build js

package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall/js"
)

// fetchDoer sends requests with the browser's fetch directly. net/http's
// own Transport would do the same, but linking it pulls its TCP and TLS
// fallback into the WebAssembly binary, which the browser then downloads
// and compiles for nothing.
type fetchDoer struct{}

// sender returns fetch: in the browser the client needs no *http.Client.
func sender(*http.Client) doer { return fetchDoer{} }

func (fetchDoer) Do(req *http.Request) (*http.Response, error) {
	opts := js.Global().Get("Object").New()
	opts.Set("method", req.Method)
	opts.Set("credentials", "same-origin")
	headers := js.Global().Get("Headers").New()
	for k, vs := range req.Header {
		for _, v := range vs {
			headers.Call("append", k, v)
		}
	}
	opts.Set("headers", headers)
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		arr := js.Global().Get("Uint8Array").New(len(b))
		js.CopyBytesToJS(arr, b)
		opts.Set("body", arr)
	}
	abort := js.Global().Get("AbortController").New()
	opts.Set("signal", abort.Get("signal"))

	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	var onResp, onBody, onErr js.Func
	release := func() { onResp.Release(); onBody.Release(); onErr.Release() }
	var status int
	var header http.Header
	onErr = js.FuncOf(func(this js.Value, args []js.Value) any {
		msg := "fetch failed"
		if len(args) > 0 && args[0].Truthy() {
			msg = args[0].Call("toString").String()
		}
		done <- result{err: errors.New(msg)}
		return nil
	})
	onBody = js.FuncOf(func(this js.Value, args []js.Value) any {
		arr := js.Global().Get("Uint8Array").New(args[0])
		b := make([]byte, arr.Get("length").Int())
		js.CopyBytesToGo(b, arr)
		done <- result{resp: &http.Response{
			Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
			Header: header, Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: req,
		}}
		return nil
	})
	onResp = js.FuncOf(func(this js.Value, args []js.Value) any {
		r := args[0]
		status = r.Get("status").Int()
		header = http.Header{}
		if ct := r.Get("headers").Call("get", "Content-Type"); ct.Truthy() {
			header.Set("Content-Type", ct.String())
		}
		r.Call("arrayBuffer").Call("then", onBody, onErr)
		return nil
	})
	js.Global().Call("fetch", req.URL.String(), opts).Call("then", onResp, onErr)

	select {
	case r := <-done:
		release()
		return r.resp, r.err
	case <-req.Context().Done():
		abort.Call("abort")
		<-done // the promise settles as aborted
		release()
		return nil, req.Context().Err()
	}
}
