package featurepb_test

// raceEnabled is set by race_test.go in -race builds.
var raceEnabled bool
