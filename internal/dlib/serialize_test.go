package dlib

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestReaderDecodesDlibEncodings(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		read func(*Reader) (any, error)
		want any
	}{
		{"zero", []byte{0x00}, func(r *Reader) (any, error) { return r.Int() }, int64(0)},
		{"one byte", []byte{0x01, 0x7f}, func(r *Reader) (any, error) { return r.Int() }, int64(127)},
		{"two bytes little endian", []byte{0x02, 0x34, 0x12}, func(r *Reader) (any, error) { return r.Int() }, int64(0x1234)},
		{"negative", []byte{0x81, 0x05}, func(r *Reader) (any, error) { return r.Int() }, int64(-5)},
		{"float 1.5 = 3*2^-1", []byte{0x01, 0x03, 0x81, 0x01}, func(r *Reader) (any, error) { return r.Float64() }, 1.5},
		{"float +inf", []byte{0x00, 0x02, 0x00, 0x7d}, func(r *Reader) (any, error) { return r.Float64() }, math.Inf(1)},
		{"string", []byte{0x01, 0x03, 'a', 'b', 'c'}, func(r *Reader) (any, error) { return r.String() }, "abc"},
		{"bool true", []byte{'1'}, func(r *Reader) (any, error) { return r.Bool() }, true},
		{"bool false", []byte{'0'}, func(r *Reader) (any, error) { return r.Bool() }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.read(NewReader(bytes.NewReader(tc.in)))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReaderRejectsDamage(t *testing.T) {
	tests := []struct {
		name, wantErr string
		in            []byte
		read          func(*Reader) error
	}{
		{"truncated integer", "unexpected end of file", []byte{0x04, 0x01}, func(r *Reader) error { _, err := r.Int(); return err }},
		{"bad control byte", "bad integer control byte", []byte{0x3f}, func(r *Reader) error { _, err := r.Int(); return err }},
		{"size out of range", "out of range", []byte{0x04, 0xff, 0xff, 0xff, 0x7f}, func(r *Reader) error { _, err := r.String(); return err }},
		{"bad bool", "bad bool", []byte{'x'}, func(r *Reader) error { _, err := r.Bool(); return err }},
		{"wrong name", `found "abc" where "fc_" was expected`, []byte{0x01, 0x03, 'a', 'b', 'c'}, func(r *Reader) error { return r.Expect("fc_") }},
		{"wrong version", "tensor version 3 is not supported", []byte{0x01, 0x03}, func(r *Reader) error { return r.Version("tensor", 2) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.read(NewReader(bytes.NewReader(tc.in)))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
