//go:build race

package events

// raceEnabled is true when the race detector is on. It makes sync.Pool
// drop items at random, so json.Valid's pooled scanner allocates.
const raceEnabled = true
