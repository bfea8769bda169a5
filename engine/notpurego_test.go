//go:build !purego

package engine

const puregoBuild = false
