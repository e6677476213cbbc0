//go:build race

package featurepb_test

func init() { raceEnabled = true }
