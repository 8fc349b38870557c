package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// maxTokenRecords bounds the token records a collection keeps: past it the oldest are
// forgotten before their TTL (it takes about 3 calls with a token a second for an hour).
const maxTokenRecords = 10000

// The operations a token belongs to: a token is scoped to one operation of one collection,
// as the HTTP handler's cache keys it.
const (
	opCreateUser        = "CreateUser"
	opDeleteUser        = "DeleteUser"
	opAssociateFaces    = "AssociateFaces"
	opDisassociateFaces = "DisassociateFaces"
)

// tokenRecord is a call made with a ClientRequestToken. It is committed in the same entry as
// the call's effect, so a process that sees the effect sees the record, and a retry in any
// process is answered from it.
type tokenRecord struct {
	Op     string `json:"op"`
	Token  string `json:"token"`
	Params string `json:"params"`
	// Result is AssociateFaces' or DisassociateFaces' answer; nil for the others.
	Result *AssociateFacesResult `json:"result,omitempty"`
	// Time is when the writer committed, by its clock: every process expires the record at
	// the same Time+TTL (give or take the clocks' skew).
	Time time.Time `json:"time"`
}

func tokenKey(op, token string) string { return op + "\x00" + token }

// ParamsHash is the canonical hash of a call's parameters for ClientRequestToken
// idempotency: the operation, the collection and the parameters without the token, as JSON.
// The same request gives the same hash in every process.
func ParamsHash(op, coll string, params any) string {
	js, err := json.Marshal(params)
	if err != nil {
		js = fmt.Appendf(nil, "%v", params) // a NaN has no JSON; this is still deterministic
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", op, coll)
	h.Write(js)
	return hex.EncodeToString(h.Sum(nil))
}

// userParams are what a hash made by the store covers, when the caller gives none.
type userParams struct {
	UserID    string   `json:"userId"`
	FaceIDs   []string `json:"faceIds,omitempty"`
	Threshold float32  `json:"threshold,omitempty"`
}

// idempotentCall is a call's token and parameters' hash; token is empty for a call without one.
type idempotentCall struct {
	op, token, params string
}

func idempotent(op, coll string, opts UserOptions, params userParams) idempotentCall {
	if opts.ClientRequestToken == "" {
		return idempotentCall{}
	}
	h := opts.ParamsHash
	if h == "" {
		h = ParamsHash(op, coll, params)
	}
	return idempotentCall{op: op, token: opts.ClientRequestToken, params: h}
}

// replay looks a call's token up: the record of the same call made before, which answers it
// again; IdempotentParameterMismatch if the token was used with other parameters; nil for a
// call without a token, or whose token is new or expired.
func (s *Store) replay(st *state, call idempotentCall) (*tokenRecord, error) {
	if call.token == "" {
		return nil, nil
	}
	r := st.tokens[tokenKey(call.op, call.token)]
	if r == nil || s.opts.Now().Sub(r.Time) >= s.opts.IdempotencyTTL {
		return nil, nil
	}
	if r.Params != call.params {
		return nil, errorf(errs.IdempotentParameterMismatch, "ClientRequestToken %s was already used with different parameters", call.token)
	}
	return r, nil
}

// record is the token record to commit with a call's effect; nil for a call without a token.
func (s *Store) record(call idempotentCall, res *AssociateFacesResult) *tokenRecord {
	if call.token == "" {
		return nil
	}
	return &tokenRecord{Op: call.op, Token: call.token, Params: call.params, Result: res.clone(), Time: s.opts.Now().UTC()}
}

// addToken keeps a committed record and forgets those it outlives.
func (st *state) addToken(r *tokenRecord) {
	st.tokens[tokenKey(r.Op, r.Token)] = r
	st.tokenOrder = append(st.tokenOrder, r)
	st.pruneTokens(r.Time)
}

// pruneTokens forgets, oldest first, the records expired at now and those past
// maxTokenRecords. now is a commit's time, not this process's clock, so that processes that
// replay the same commits keep the same records; a record that is not the oldest waits its
// turn (a lookup checks the expiry anyway).
func (st *state) pruneTokens(now time.Time) {
	for len(st.tokenOrder) > 0 {
		r := st.tokenOrder[0]
		k := tokenKey(r.Op, r.Token)
		live := st.tokens[k] == r // not replaced by a later call with the expired token
		if live && len(st.tokens) <= maxTokenRecords && now.Sub(r.Time) < st.tokenTTL {
			return
		}
		if live {
			delete(st.tokens, k)
		}
		st.tokenOrder[0] = nil
		st.tokenOrder = st.tokenOrder[1:]
	}
}

// liveTokens are the records not expired at now, in commit order: what a snapshot keeps.
func (st *state) liveTokens(now time.Time) []*tokenRecord {
	var out []*tokenRecord
	for _, r := range st.tokenOrder {
		if st.tokens[tokenKey(r.Op, r.Token)] == r && now.Sub(r.Time) < st.tokenTTL {
			out = append(out, r)
		}
	}
	return out
}

// readTokens reads a snapshot's token records.
func (s *Store) readTokens(ctx context.Context, c *Collection, sn *snapshot) ([]*tokenRecord, error) {
	data, err := s.get(ctx, s.snapObject(c, sn, sn.Tokens))
	if err != nil {
		return nil, err
	}
	var recs []*tokenRecord
	if err := json.Unmarshal(data, &recs); err != nil {
		return nil, &errs.Error{Code: errs.Corrupt, Message: "bad token records", Err: err}
	}
	return recs, nil
}

// clone is a deep copy: a recorded result is shared by the state and must not change.
func (r *AssociateFacesResult) clone() *AssociateFacesResult {
	if r == nil {
		return nil
	}
	out := &AssociateFacesResult{Associated: slices.Clone(r.Associated), UserStatus: r.UserStatus}
	for _, f := range r.Unsuccessful {
		f.Reasons = slices.Clone(f.Reasons)
		out.Unsuccessful = append(out.Unsuccessful, f)
	}
	return out
}
