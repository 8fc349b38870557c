package store

import (
	"fmt"
	"testing"
	"time"
)

// TestTokenRecordsBounded checks the bounds of the records a state keeps: at most
// maxTokenRecords, oldest forgotten first, and none past its TTL counted from later commits;
// a token used again after it expired keeps its new record.
func TestTokenRecordsBounded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := func(token string, at time.Duration) *tokenRecord {
		return &tokenRecord{Op: opDeleteUser, Token: token, Params: "p", Time: t0.Add(at)}
	}
	has := func(st *state, token string, at time.Duration) bool {
		r := st.tokens[tokenKey(opDeleteUser, token)]
		return r != nil && r.Time.Equal(t0.Add(at))
	}

	st := newState(dimForTest, time.Hour)
	for i := 0; i < maxTokenRecords+5; i++ {
		mustApply(t, st, &entry{Token: rec(fmt.Sprint(i), time.Duration(i)*time.Millisecond)})
	}
	if len(st.tokens) != maxTokenRecords || has(st, "4", 4*time.Millisecond) || !has(st, "5", 5*time.Millisecond) {
		t.Fatalf("%d records kept; the 5 oldest must go first", len(st.tokens))
	}

	st = newState(dimForTest, time.Hour)
	mustApply(t, st, &entry{Token: rec("a", 0)})
	mustApply(t, st, &entry{Token: rec("b", 30*time.Minute)})
	mustApply(t, st, &entry{Token: rec("a", 70*time.Minute)}) // a expired, then used again
	if !has(st, "a", 70*time.Minute) || !has(st, "b", 30*time.Minute) {
		t.Fatalf("after a was used again: %v", st.tokens)
	}
	mustApply(t, st, &entry{Token: rec("c", 95*time.Minute)})
	if has(st, "b", 30*time.Minute) || !has(st, "a", 70*time.Minute) || len(st.tokens) != 2 {
		t.Fatalf("an hour after b: %v", st.tokens)
	}
	if got := st.liveTokens(t0.Add(131 * time.Minute)); len(got) != 1 || got[0].Token != "c" {
		t.Fatalf("live at 131m: %+v", got)
	}
}

const dimForTest = 4

func mustApply(t *testing.T, st *state, e *entry) {
	t.Helper()
	if err := st.apply(e, "", 0); err != nil {
		t.Fatal(err)
	}
}
