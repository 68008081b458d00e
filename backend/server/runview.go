package server

import (
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// runView is what one user is shown of runs. Admins see runs as stored;
// astronomers see the paths under the data folder relative to it and no
// process handle, since where the server keeps its files and which
// processes it runs are not theirs to know. It applies to everything a
// run says: its arguments, config and error, and its events (log lines, metric
// messages, state errors), over HTTP and the websocket alike.
type runView struct {
	full    bool
	dataDir string // absolute and clean
}

// viewOf is the view of the user making call c.
func (s *Server) viewOf(c *Call) runView {
	return runView{full: c.Session != nil && c.Session.User.Role == shared.RoleAdmin, dataDir: filepath.Clean(s.opt.DataDir)}
}

// runDTO is a run as the API shows it to everyone: the arguments are a
// list, never null. Handlers answer with runView.run, which starts here.
func runDTO(j store.Run) shared.Run {
	r := j.Run
	if r.Args == nil {
		r.Args = []string{}
	}
	if d := jobs.Device(r.Args); d != "cpu" {
		r.Device = d
	}
	return r
}

// run is j as v shows it.
func (v runView) run(j store.Run) shared.Run {
	r := runDTO(j)
	if v.full {
		return r
	}
	r.Handle = ""
	r.Args = make([]string, len(j.Args))
	for i, a := range j.Args {
		r.Args[i] = v.text(a)
	}
	r.Error, r.Config = v.text(r.Error), v.text(r.Config)
	return r
}

// event is ev as v shows it; the pointed-to values are copied, never
// changed, since the hub hands one event to many clients.
func (v runView) event(ev shared.Event) shared.Event {
	if v.full {
		return ev
	}
	switch {
	case ev.Log != nil:
		l := *ev.Log
		l.Text = v.text(l.Text)
		ev.Log = &l
	case ev.Metric != nil:
		m := *ev.Metric
		m.Message = v.text(m.Message)
		ev.Metric = &m
	case ev.State != nil:
		st := *ev.State
		st.Error = v.text(st.Error)
		ev.State = &st
	}
	ev.Error = v.text(ev.Error)
	return ev
}

// pidRe matches a process id as a run's handle and texts word it.
var pidRe = regexp.MustCompile(`\bpid [0-9]+`)

// text replaces each path under the data folder in s by the same path
// relative to it, the data folder itself by ".", and process ids ("the
// server stopped while it ran (pid 4242)") by "pid hidden". A longer name
// that merely starts with the folder's ("/data" in "/database") is left
// alone.
func (v runView) text(s string) string {
	if v.full {
		return s
	}
	s = pidRe.ReplaceAllString(s, "pid hidden")
	if v.dataDir == "" || !strings.Contains(s, v.dataDir) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, v.dataDir)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		rest := s[i+len(v.dataDir):]
		switch {
		case strings.HasPrefix(rest, string(filepath.Separator)):
			s = rest[1:]
		case rest == "" || !isPathByte(rest[0]):
			b.WriteByte('.')
			s = rest
		default:
			b.WriteString(v.dataDir)
			s = rest
		}
	}
}

// isPathByte reports whether c may continue a file name.
func isPathByte(c byte) bool {
	return c == '.' || c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= 0x80
}
