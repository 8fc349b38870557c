package controllers

import (
	"testing"
	"time"
)

// TestPlanCompaction: a due compaction waits while the index rolls out (pods of an older
// image may not read the new snapshot format), but never longer than one more interval, so
// that erasure is delayed by a bounded time even when a rollout is stuck.
func TestPlanCompaction(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	const interval = 5 * time.Minute
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, tc := range []struct {
		name       string
		last       lastCompaction
		pending    uint64
		rollingOut bool
		want       compactionPlan
	}{
		{name: "nothing pending", last: lastCompaction{at: ago(time.Hour)}, want: compactionPlan{}},
		{name: "pending, interval not over", last: lastCompaction{at: ago(time.Minute)}, pending: 3,
			want: compactionPlan{requeueAfter: 4 * time.Minute}},
		{name: "interval over", last: lastCompaction{at: ago(interval)}, pending: 3, want: compactionPlan{compact: true}},
		{name: "many commits before the interval", last: lastCompaction{at: ago(time.Second)}, pending: compactionCommits,
			want: compactionPlan{compact: true}},
		{name: "due during a rollout: waits", last: lastCompaction{at: ago(interval)}, pending: 3, rollingOut: true,
			want: compactionPlan{waitSince: now, requeueAfter: indexPollAfter}},
		{name: "still rolling out, keeps its start", last: lastCompaction{at: ago(2 * interval), waitingSince: ago(time.Minute)}, pending: 3, rollingOut: true,
			want: compactionPlan{waitSince: ago(time.Minute), requeueAfter: indexPollAfter}},
		{name: "waited an interval: compacts anyway", last: lastCompaction{at: ago(2 * interval), waitingSince: ago(interval)}, pending: 3, rollingOut: true,
			want: compactionPlan{compact: true, waitSince: ago(interval)}},
		{name: "rollout ended while waiting", last: lastCompaction{at: ago(2 * interval), waitingSince: ago(time.Minute)}, pending: 3,
			want: compactionPlan{compact: true}},
		{name: "the last poll before the bound is shorter", last: lastCompaction{at: ago(2 * interval), waitingSince: ago(interval - time.Second)}, pending: 3, rollingOut: true,
			want: compactionPlan{waitSince: ago(interval - time.Second), requeueAfter: time.Second}},
		{name: "not due: a rollout changes nothing", last: lastCompaction{at: ago(time.Minute)}, pending: 3, rollingOut: true,
			want: compactionPlan{requeueAfter: 4 * time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := planCompaction(now, tc.last, tc.pending, interval, tc.rollingOut); got != tc.want {
				t.Errorf("planCompaction = %+v, want %+v", got, tc.want)
			}
		})
	}
}
