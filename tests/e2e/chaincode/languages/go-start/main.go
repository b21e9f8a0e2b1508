// A conventional contract-API main, as users write it: the contract API decides
// whether to dial the peer or serve (CCaaS) from its environment, TLS included.
// The test puts it beside the asset contract of fabkube's Go sample.
package main

import (
	"log"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

func main() {
	cc, err := contractapi.NewChaincode(&SmartContract{})
	if err != nil {
		log.Panicf("creating the chaincode: %v", err)
	}
	if err := cc.Start(); err != nil {
		log.Panicf("starting the chaincode: %v", err)
	}
}
