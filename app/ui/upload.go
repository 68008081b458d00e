package ui

import (
	"strconv"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/shared"
)

// pendingFile is a file the browser is sending.
type pendingFile struct {
	Name string
	Size int64
}

// filesOf lists the name and size of each File in a browser FileList.
func filesOf(list app.Value) []pendingFile {
	out := make([]pendingFile, list.Length())
	for i := range out {
		f := list.Index(i)
		out[i] = pendingFile{Name: f.Get("name").String(), Size: int64(f.Get("size").Float())}
	}
	return out
}

// uploadFiles posts the files of a browser FileList to POST /api/uploads
// as multipart/form-data with XMLHttpRequest, the one browser API that
// reports upload progress (fetch, and so net/http in WebAssembly, does
// not). The browser reads the files itself; they never pass through Go
// memory. progress gets the fraction of bytes sent; done gets the status
// and body of the answer, or status 0 when the request failed.
//
// Callbacks run on the browser's event loop: callers hand results to the
// UI goroutine with ctx.Dispatch.
func uploadFiles(list app.Value, checkpoint int64, zAsI bool, csrf string, progress func(float64), done func(status int, body string)) {
	form := app.Window().Get("FormData").New()
	for i := 0; i < list.Length(); i++ {
		f := list.Index(i)
		form.Call("append", "file", f, f.Get("name"))
	}
	if checkpoint > 0 {
		form.Call("append", "checkpoint", strconv.FormatInt(checkpoint, 10))
	}
	if zAsI {
		form.Call("append", "z_as_i", "true")
	}
	postWithProgress("/api/uploads", form, csrf, progress, done)
}

// postWithProgress posts body (FormData, or a File sent as it is) to path
// with XMLHttpRequest, reporting the fraction of bytes sent to progress
// and the answer's status and body (status 0: the request failed) to done;
// see uploadFiles.
func postWithProgress(path string, body app.Value, csrf string, progress func(float64), done func(status int, body string)) {
	xhr := app.Window().Get("XMLHttpRequest").New()
	xhr.Call("open", "POST", path)
	xhr.Call("setRequestHeader", shared.CSRFHeader, csrf)
	xhr.Call("setRequestHeader", "Accept", "application/json")

	var funcs []app.Func
	on := func(target app.Value, event string, f func(app.Value)) {
		fn := app.FuncOf(func(this app.Value, args []app.Value) any {
			f(args[0])
			return nil
		})
		funcs = append(funcs, fn)
		target.Set(event, fn)
	}
	finish := func(status int, body string) {
		for _, fn := range funcs {
			fn.Release()
		}
		done(status, body)
	}
	on(xhr.Get("upload"), "onprogress", func(e app.Value) {
		if e.Get("lengthComputable").Bool() && e.Get("total").Float() > 0 {
			progress(e.Get("loaded").Float() / e.Get("total").Float())
		}
	})
	on(xhr, "onload", func(app.Value) { finish(xhr.Get("status").Int(), xhr.Get("responseText").String()) })
	on(xhr, "onerror", func(app.Value) { finish(0, "") })
	on(xhr, "onabort", func(app.Value) { finish(0, "") })
	xhr.Call("send", body)
}
