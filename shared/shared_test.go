package shared

import (
	"encoding/json"
	"testing"
	"time"
)

func TestRoleAllows(t *testing.T) {
	tests := []struct {
		have, need Role
		want       bool
	}{
		{RoleAdmin, RoleAdmin, true},
		{RoleAdmin, RoleAstronomer, true},
		{RoleAstronomer, RoleAstronomer, true},
		{RoleAstronomer, RoleAdmin, false},
		{Role(""), RoleAstronomer, false},
		{Role("root"), RoleAdmin, false},
	}
	for _, tt := range tests {
		if got := tt.have.Allows(tt.need); got != tt.want {
			t.Errorf("%q.Allows(%q) = %v, want %v", tt.have, tt.need, got, tt.want)
		}
	}
	for _, r := range Roles {
		if !r.Valid() {
			t.Errorf("%q is listed but not valid", r)
		}
	}
	if Role("root").Valid() {
		t.Error(`"root" is valid`)
	}
}

func TestJobStateFinal(t *testing.T) {
	final := map[RunState]bool{
		StateQueued: false, StateRunning: false, StateSucceeded: true,
		StateFailed: true, StateCancelled: true, StateInterrupted: true,
	}
	if len(final) != len(RunStates) {
		t.Fatalf("test covers %d states, RunStates lists %d", len(final), len(RunStates))
	}
	for _, s := range RunStates {
		if s.Final() != final[s] {
			t.Errorf("%s.Final() = %v, want %v", s, s.Final(), final[s])
		}
	}
}

// The wire form is what the app decodes: pin the field names the API
// reference documents.
func TestEventWireForm(t *testing.T) {
	loss := 0.5
	tm := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"metric", Event{Type: EventMetric, Run: 3, Seq: 7, Time: tm, Metric: &Metric{Seq: 2, Kind: MetricStep, Time: tm, Epoch: 1, Step: 2, Loss: &loss}},
			`{"type":"metric","run":3,"seq":7,"time":"2025-01-02T03:04:05Z","metric":{"seq":2,"kind":"step","time":"2025-01-02T03:04:05Z","epoch":1,"step":2,"loss":0.5}}`},
		{"state", Event{Type: EventState, Run: 3, Seq: 1, Time: tm, State: &StateChange{State: StateFailed, Error: "boom"}},
			`{"type":"state","run":3,"seq":1,"time":"2025-01-02T03:04:05Z","state":{"state":"failed","error":"boom"}}`},
		{"error", Event{Type: EventError, Time: tm, Error: "bad message"},
			`{"type":"error","run":0,"seq":0,"time":"2025-01-02T03:04:05Z","error":"bad message"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.ev)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, b, tt.want)
		}
		var back Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(back)
		if string(again) != tt.want {
			t.Errorf("%s: round trip changed it: %s", tt.name, again)
		}
	}
}

func TestErrorWireForm(t *testing.T) {
	b, _ := json.Marshal(Error{ErrorBody{Code: CodeInvalid, Message: "config invalid", Fields: []FieldError{{Key: "optimizer.init_lr", Message: "want > 0"}}}})
	want := `{"error":{"code":"invalid","message":"config invalid","fields":[{"key":"optimizer.init_lr","message":"want \u003e 0"}]}}`
	if string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
}
