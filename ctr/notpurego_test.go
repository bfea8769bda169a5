//go:build !purego

package ctr

const puregoBuild = false
