// Command backend prints the AES-CTR kernel ctr chose on this machine.
package main

import (
	"fmt"

	"github.com/tde-go/tde/ctr"
)

func main() { fmt.Println(ctr.Backend()) }
