package server

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sslens/sslens/shared"
)

// load turns TestLoad on; it is off in the default suite, where its
// latency thresholds would measure the machine's other work.
var load = flag.Bool("load", false, "run TestLoad, the websocket and upload load test")

// TestLoad runs 200 websocket clients and 50 concurrent uploads while a
// job trains, and reports dropped events and latencies. Clients that keep
// up must lose nothing, and the 99th percentile of live event latency
// must stay under 5 s. It runs only when asked; its figures come from
//
//	go test -tags openblas -count=1 -run TestLoad -v ./backend/server -load
//
// (with -race the client and upload counts are divided by 5).
func TestLoad(t *testing.T) {
	if !*load {
		t.Skip("a load test with latency thresholds: run it with -load")
	}
	const clients, uploads = 200 / loadScale, 50 / loadScale
	f := newFixture(t, HubOptions{})
	adm := f.login(t, adminUser)
	f.trainedBaseline(t, adm, 2) // a model first, so uploads are scored

	var run shared.Run
	adm.json("POST", "/api/runs", shared.CreateRunRequest{Kind: shared.KindFinetune, Config: baseline(t, "# steps: 600\n# step_ms: 5\n# ckpt_every: 50")}, &run)
	users := make([]*browser, 4)
	for i := range users {
		users[i] = f.login(t, astroUser)
	}
	start := time.Now()
	type result struct {
		got     map[int64]bool
		latency []time.Duration
	}
	results := make([]result, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := websocket.Dialer{Jar: users[i%len(users)].hc.Jar}
			conn, _, err := d.Dial("ws"+strings.TrimPrefix(f.ts.URL, "http")+"/api/ws", nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			subscribed := time.Now()
			conn.WriteJSON(shared.ClientMessage{Type: shared.MsgSubscribe, Run: run.ID})
			r := result{got: map[int64]bool{}}
			conn.SetReadDeadline(time.Now().Add(60 * time.Second))
			for {
				var ev shared.Event
				if err := conn.ReadJSON(&ev); err != nil {
					t.Errorf("client %d: %v", i, err)
					break
				}
				now := time.Now()
				r.got[ev.Seq] = true
				if ev.Time.After(subscribed) { // live, not replayed
					r.latency = append(r.latency, now.Sub(ev.Time))
				}
				if ev.Type == shared.EventState && ev.State.State.Final() {
					break
				}
			}
			results[i] = r
		}()
	}
	upLatency := make([]time.Duration, uploads)
	for i := range uploads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(1000)) * time.Millisecond)
			c := users[i%len(users)]
			t0 := time.Now()
			code, resp, e := c.upload([]part{{fmt.Sprintf("load-%d.npy", i), npyOf(testCutout(40, 40, float32(i)))}})
			upLatency[i] = time.Since(t0)
			if code != 200 || resp.Scoring != shared.ScoringDone {
				t.Errorf("upload %d: %d %s %+v", i, code, resp.Message, e)
			}
		}()
	}
	wg.Wait()
	j := f.waitRun(t, run.ID, shared.StateSucceeded)
	var lat []time.Duration
	dropped, kept := 0, 0
	for _, r := range results {
		lat = append(lat, r.latency...)
		for s := int64(1); s <= j.LastSeq; s++ {
			if !r.got[s] {
				dropped++
			}
		}
		kept += len(r.got)
	}
	slices.Sort(lat)
	slices.Sort(upLatency)
	p := func(v []time.Duration, q float64) time.Duration { return v[min(len(v)-1, int(q*float64(len(v))))] }
	t.Logf("%d clients, %d events each (%d delivered), %d dropped; live event latency p50 %v p99 %v max %v",
		clients, j.LastSeq, kept, dropped, p(lat, 0.5), p(lat, 0.99), lat[len(lat)-1])
	t.Logf("%d concurrent uploads, scored: latency p50 %v p99 %v; total %v", uploads, p(upLatency, 0.5), p(upLatency, 0.99), time.Since(start))
	if dropped != 0 {
		t.Errorf("%d events dropped for clients that kept up", dropped)
	}
	if p(lat, 0.99) > 5*time.Second {
		t.Errorf("p99 event latency %v", p(lat, 0.99))
	}
}
