package redistest

import (
	"errors"
	"testing"
)

// TestStartProcessTriesAnotherPort: a process that exits before it is
// ready (its port taken meanwhile) is started again on another port, up to
// three tries in all.
func TestStartProcessTriesAnotherPort(t *testing.T) {
	var ports []int
	exitFirst := func(port int) []string {
		ports = append(ports, port)
		if len(ports) == 1 {
			return []string{"-c", "echo port taken; exit 1"}
		}
		return []string{"-c", "echo ready; exec sleep 30"}
	}
	addr, stop, err := startProcess(t, "sh", "ready", exitFirst)
	if err != nil || addr == "" || len(ports) != 2 {
		t.Fatalf("startProcess = %q, %v after %d tries; want it ready on the second", addr, err, len(ports))
	}
	stop()

	ports = nil
	never := func(port int) []string {
		ports = append(ports, port)
		return []string{"-c", "exit 1"}
	}
	if _, _, err := startProcess(t, "sh", "ready", never); !errors.Is(err, errExited) || len(ports) != 3 {
		t.Errorf("startProcess of a process that always exits = %v after %d tries; want errExited after 3", err, len(ports))
	}
}
