package main

import (
	"math"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	withEnv := func(k string) (string, bool) { return "64MiB", k == "GOMEMLIMIT" }
	for _, tc := range []struct {
		name      string
		flag      string
		env       func(string) (string, bool)
		want      int64
		wantApply bool
		wantErr   bool
	}{
		{name: "defaults to the built-in limit", flag: "", env: noEnv, want: defaultMemoryLimit, wantApply: true},
		{name: "keeps GOMEMLIMIT when the flag is empty", flag: "", env: withEnv, wantApply: false},
		{name: "takes a quantity", flag: "40Mi", env: withEnv, want: 40 << 20, wantApply: true},
		{name: "takes plain bytes", flag: "1000000", env: noEnv, want: 1000000, wantApply: true},
		{name: "zero removes the limit", flag: "0", env: noEnv, want: math.MaxInt64, wantApply: true},
		{name: "rejects a negative limit", flag: "-1Mi", env: noEnv, wantErr: true},
		{name: "rejects a word", flag: "lots", env: noEnv, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, apply, err := memoryLimit(tc.flag, tc.env)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if apply != tc.wantApply {
				t.Errorf("apply = %v, want %v", apply, tc.wantApply)
			}
			if apply && got != tc.want {
				t.Errorf("limit = %d, want %d", got, tc.want)
			}
		})
	}
}
