package ui

import (
	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/app/api"
	"github.com/sslens/sslens/shared"
)

// live is the websocket status a page shows beside live data.
type live struct {
	connected bool
	lost      bool // was connected once and lost it: reconnecting
}

func (l live) badge() app.UI {
	switch {
	case l.connected:
		return app.Span().Class("badge live").Title("receiving updates").Text("live")
	case l.lost:
		return app.Span().Class("badge reconnecting").Role("status").Text("reconnecting…")
	}
	return app.Span().Class("badge muted").Text("connecting…")
}

// follow keeps a websocket subscription for the component's lifetime
// (ctx ends when it is dismounted); events and status changes run on the
// UI goroutine. It runs on its own goroutine rather than ctx.Async, which
// would make prerendering and tests wait for it to end.
func (p *page) follow(ctx app.Context, st *live, run, after int64, onEvents func(app.Context, []shared.Event), onConnect func(app.Context)) {
	w := api.Watch{
		Run:   run,
		After: after,
		OnEvents: func(evs []shared.Event) {
			ctx.Dispatch(func(ctx app.Context) { onEvents(ctx, evs) })
		},
		OnConnect: func() {
			ctx.Dispatch(func(ctx app.Context) {
				st.connected, st.lost = true, false
				if onConnect != nil {
					onConnect(ctx)
				}
			})
		},
		OnDisconnect: func(error) {
			ctx.Dispatch(func(ctx app.Context) {
				if st.connected {
					st.lost = true
				}
				st.connected = false
			})
		},
	}
	go p.env.API.Watch(ctx, w)
}

// applyToRuns updates runs in place from the events of every run (state
// and progress); it reports whether an event concerns a run the list does
// not hold, so the caller fetches the list again.
func applyToRuns(runs []shared.Run, evs []shared.Event) (unknown bool) {
	for _, ev := range evs {
		if ev.Run == 0 {
			continue
		}
		i := indexRun(runs, ev.Run)
		if i < 0 {
			unknown = unknown || ev.Type == shared.EventState || ev.Type == shared.EventProgress
			continue
		}
		r := &runs[i]
		r.LastSeq = max(r.LastSeq, ev.Seq)
		switch {
		case ev.Type == shared.EventState && ev.State != nil:
			r.State = ev.State.State
			if ev.State.Error != "" {
				r.Error = ev.State.Error
			}
		case ev.Type == shared.EventProgress && ev.Progress != nil:
			p := *ev.Progress
			r.Progress = &p
		}
	}
	return unknown
}

func indexRun(runs []shared.Run, id int64) int {
	for i := range runs {
		if runs[i].ID == id {
			return i
		}
	}
	return -1
}
