package orderflow

import "testing"

// TestProgressAt reads journaled steps as recovery does: the steps of the
// two phases after the journaled one are in doubt, later ones not done.
// Records written one step at a time read the same way.
func TestProgressAt(t *testing.T) {
	steps := []Step{StepReserved, StepAuthorized, StepCreated, StepCaptured, StepConfirmed, StepCommitted}
	const (
		n = notDone
		d = done
		u = unknown
	)
	tests := []struct {
		reached Step
		want    []progress // for steps, in order
	}{
		{StepStarted, []progress{u, u, u, u, u, n}},
		{StepConfirmed, []progress{d, d, d, d, d, u}},
		{StepCommitted, []progress{d, d, d, d, d, d}},
		// One step at a time, or a record of an earlier version, which
		// journaled the capture's phase at captured: only the next step was
		// running, and more reads as in doubt than was.
		{StepReserved, []progress{d, u, u, u, u, n}},
		{StepAuthorized, []progress{d, d, u, u, u, n}},
		{StepCreated, []progress{d, d, d, u, u, u}},
		{StepCaptured, []progress{d, d, d, d, u, u}},
	}
	for _, tt := range tests {
		for i, st := range steps {
			if got := progressAt(tt.reached, st); got != tt.want[i] {
				t.Errorf("journal at %s: %s is %d, want %d", tt.reached, st, got, tt.want[i])
			}
		}
	}
}

// TestPhasesCoverEveryStepOnce guards the phase table: each forward step in
// exactly one phase, in the flow's order, the commit last, alone and after
// the capture and the confirmation.
func TestPhasesCoverEveryStepOnce(t *testing.T) {
	next := StepReserved
	for _, ph := range phases {
		for _, st := range ph {
			if st != next {
				t.Fatalf("phases %v: got %s, want %s", phases, st, next)
			}
			next++
		}
	}
	if next != StepCommitted+1 {
		t.Errorf("phases %v end before %s", phases, StepCommitted)
	}
	last := phases[len(phases)-1]
	if phaseOf(StepConfirmed) >= phaseOf(StepCommitted) || phaseOf(StepCaptured) >= phaseOf(StepCommitted) || len(last) != 1 {
		t.Errorf("the commit must come after the capture and the confirmation, alone: %v", phases)
	}
}
