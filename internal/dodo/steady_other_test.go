//go:build !unix

package dodo

import "os/exec"

func ownProcessGroup(*exec.Cmd) {}

// signalGroup kills cmd; without process groups a child it started may
// outlive it.
func signalGroup(cmd *exec.Cmd, _ bool) { _ = cmd.Process.Kill() }
