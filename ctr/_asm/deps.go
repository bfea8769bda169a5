//go:build tools

package main

// avo reads the kernels' Go declarations from the ctr package at run time;
// this import keeps that package in go.mod (through the replace directive).
import _ "github.com/tde-go/tde/ctr"
