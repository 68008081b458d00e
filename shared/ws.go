package shared

import "time"

// Websocket protocol at GET /api/ws (session cookie required; the Origin,
// when sent, must be the server's own). Both directions carry one JSON
// object per text message.
//
// The client subscribes to runs with ClientMessage{Type: "subscribe", Run:
// id, After: n}: the server first replays the run's events with Seq > n
// from its database, in order, then sends new ones as they happen. A
// client that reconnects sends the last Seq it saw per run and so misses
// nothing. Run 0 subscribes to the events of every run, live only (no
// replay: read GET /api/runs first). "unsubscribe" stops a subscription.
//
// The server pings every 20 s and closes connections that do not answer
// within 60 s. A client that reads too slowly to keep its bounded buffer
// from filling is disconnected (close code 1008, reason "too slow", or
// 1006 when its socket has no room left for the close frame); it catches
// up by reconnecting with its last Seq.

// ClientMessageType is what a ClientMessage asks.
type ClientMessageType string

const (
	MsgSubscribe   ClientMessageType = "subscribe"
	MsgUnsubscribe ClientMessageType = "unsubscribe"
)

// ClientMessage is what the app sends on the websocket.
type ClientMessage struct {
	Type  ClientMessageType `json:"type"`
	Run   int64             `json:"run"`   // 0: all runs, live only
	After int64             `json:"after"` // replay events with Seq > After (per-run subscriptions)
}

// EventType is what an Event carries.
type EventType string

const (
	EventMetric   EventType = "metric"   // Metric: a record of the run's metrics.jsonl
	EventState    EventType = "state"    // State: the run changed state
	EventLog      EventType = "log"      // Log: a line of the run's output
	EventProgress EventType = "progress" // Progress: e.g. images simulated so far
	EventCluster  EventType = "cluster"  // Cluster: the cluster scheduler's word on the run's job changed
	EventError    EventType = "error"    // Error: a protocol error (Run 0, Seq 0), e.g. a bad message
)

// Event is what the server sends on the websocket, and what
// GET /api/runs/{id}/events lists. Seq numbers the events of one run from
// 1 without gaps; it is 0 only for connection-level errors. Exactly one of
// the pointer fields (or Error) is set, matching Type.
type Event struct {
	Type     EventType    `json:"type"`
	Run      int64        `json:"run"`
	Seq      int64        `json:"seq"`
	Time     time.Time    `json:"time"`
	Metric   *Metric      `json:"metric,omitempty"`
	State    *StateChange `json:"state,omitempty"`
	Log      *LogLine     `json:"log,omitempty"`
	Progress *Progress    `json:"progress,omitempty"`
	Cluster  *ClusterJob  `json:"cluster,omitempty"`
	Error    string       `json:"error,omitempty"`
}

// ClusterJob is a cluster scheduler's word on a run's job: Slurm's job
// id, its state (pending, running, ...), the reason it waits (Priority,
// Resources, ...), its partition and node.
type ClusterJob struct {
	Job       string `json:"job"`
	State     string `json:"state"`
	Reason    string `json:"reason,omitempty"`
	Partition string `json:"partition,omitempty"`
	Node      string `json:"node,omitempty"`
}

// StateChange is a run's new state, with the reason when it failed or was
// interrupted.
type StateChange struct {
	State RunState `json:"state"`
	Error string   `json:"error,omitempty"`
}
