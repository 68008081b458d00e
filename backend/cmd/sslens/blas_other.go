//go:build !unix

package main

// tuneOpenBLAS does nothing where a process cannot replace itself.
func tuneOpenBLAS() {}
