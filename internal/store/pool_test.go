package store

import "testing"

// TestPoolDropsStoresNoOwnerHolds: a credential rotation or a deletion must not keep the old
// Store, and the state it cached, alive. Opening a Store dials nothing, so no server is needed.
func TestPoolDropsStoresNoOwnerHolds(t *testing.T) {
	p := NewPool(Options{})
	old := Connection{Endpoint: "127.0.0.1:9", Bucket: "faces", AccessKey: "a", SecretKey: "old"}
	rotated := old
	rotated.SecretKey = "new"

	a1, err := p.Acquire("ns/people", old)
	if err != nil {
		t.Fatal(err)
	}
	b1, err := p.Acquire("index:ns/people", old)
	if err != nil {
		t.Fatal(err)
	}
	if a1 != b1 || p.Len() != 1 {
		t.Fatalf("two owners of one connection got two Stores (%d kept)", p.Len())
	}
	if again, _ := p.Acquire("ns/people", old); again != a1 || p.Len() != 1 {
		t.Fatal("acquiring again gave another Store")
	}

	a2, err := p.Acquire("ns/people", rotated)
	if err != nil {
		t.Fatal(err)
	}
	if a2 == a1 || p.Len() != 2 {
		t.Fatalf("rotated credentials: same Store %v, %d kept (want 2: the index still holds the old one)", a2 == a1, p.Len())
	}
	if b2, _ := p.Acquire("index:ns/people", rotated); b2 != a2 || p.Len() != 1 {
		t.Fatalf("once no owner holds the old Store it must go: %d kept", p.Len())
	}

	p.Release("ns/people")
	if p.Len() != 1 {
		t.Fatalf("a Store another owner holds was dropped: %d kept", p.Len())
	}
	p.Release("index:ns/people")
	p.Release("index:ns/people") // releasing twice is harmless
	if p.Len() != 0 {
		t.Fatalf("%d Stores kept after every owner let go", p.Len())
	}
}
