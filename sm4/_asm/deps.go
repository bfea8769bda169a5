//go:build tools

package main

// avo reads the kernels' Go declarations from the sm4 package at run time;
// this import keeps that package in go.mod (through the replace directive).
import _ "github.com/tde-go/tde/sm4"
