package jobstest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/sslens/sslens/backend/ssl"
	"github.com/sslens/sslens/shared"
)

// shared.Metric mirrors ssl.Record for the app, and the stand-in commands
// write it where the real ones write ssl.Record: the JSON forms must match
// field for field. (This test lives here, not in package jobs, so that the
// job runner's own tests do not depend on the training package.)
func TestMetricMatchesSSLRecord(t *testing.T) {
	fields := func(v any) map[string]string {
		out := map[string]string{}
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			f := rt.Field(i)
			out[f.Tag.Get("json")] = f.Type.Kind().String()
		}
		return out
	}
	a, b := fields(ssl.Record{}), fields(shared.Metric{})
	if !reflect.DeepEqual(a, b) {
		t.Errorf("ssl.Record fields %v\nshared.Metric fields %v", a, b)
	}
	loss, auc := 0.25, 0.9
	rec := ssl.Record{Seq: 4, Kind: ssl.KindEval, Time: time.Now().UTC(), Epoch: 2, Step: 10, Loss: &loss, AUC: &auc, Split: "val", Checkpoint: "checkpoints/best"}
	in, _ := json.Marshal(rec)
	var m shared.Metric
	if err := json.Unmarshal(in, &m); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(m)
	if string(in) != string(out) {
		t.Errorf("round trip through shared.Metric:\n%s\n%s", in, out)
	}
}
