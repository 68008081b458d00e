//go:build !unix

package main

// useBetterBLAS does nothing where a process cannot replace itself.
func useBetterBLAS() {}
