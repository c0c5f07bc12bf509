package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFlagsRefusedClearly: out-of-range flags are refused naming the flag and the range.
func TestFlagsRefusedClearly(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-duration", "1s"}, "-duration 1s: give 20s to 2h"},
		{[]string{"-members", "0"}, "-members 0: give 1 to 500"},
		{[]string{"-members", "3", "-rooms", "5"}, "no more than -members"},
		{[]string{"-faults", "1.5"}, "-faults 1.5: give a share between 0 and 1"},
		{[]string{"-think", "1ms"}, "-think 1ms: give at least 100ms"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		_, err := parse(c.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	if o, err := parse(nil, io.Discard); err != nil || o.duration != 15*time.Minute || o.members != 50 || o.rooms != 5 {
		t.Errorf("defaults %+v, %v; want 15 min, 50 members, 5 rooms", o, err)
	}
}

// TestShortSoak runs the real app for 20 s with 8 members in 2 rooms, the stand-in's faults
// on and both restarts: nothing accepted is lost or written twice, nothing deleted is left,
// no job is stuck, and the report has its three samples, each with the Go heap and a heap
// profile saved.
func TestShortSoak(t *testing.T) {
	var out bytes.Buffer
	profiles := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := run(ctx, []string{"-duration", "20s", "-members", "8", "-rooms", "2", "-think", "400ms", "-faults", "0.1", "-drain", "60s", "-profiles", profiles}, &out, &out)
	t.Logf("%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("the soak found a problem (see the report above)")
	}
	if len(rep.Restarts) != 2 || len(rep.Samples) != 3 {
		t.Errorf("restarts %v, %d samples; want 2 restarts and start, middle and end", rep.Restarts, len(rep.Samples))
	}
	for _, sm := range rep.Samples {
		if fi, err := os.Stat(filepath.Join(profiles, "heap-"+sm.At+".pb.gz")); err != nil || fi.Size() == 0 || sm.HeapMB <= 0 || sm.LiveMB <= 0 || sm.LiveMB > sm.HeapMB {
			t.Errorf("sample %s: Go heap %.1f MB, live %.1f MB, profile %v", sm.At, sm.HeapMB, sm.LiveMB, err)
		}
	}
	if rep.Accepted == 0 || rep.Annotated != rep.Accepted || rep.EventSamples == 0 {
		t.Errorf("accepted %d, annotated %d, %d event deliveries: the members did not work", rep.Accepted, rep.Annotated, rep.EventSamples)
	}
}
