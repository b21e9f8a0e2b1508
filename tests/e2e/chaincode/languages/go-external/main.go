// The chaincode-as-a-service main as external-chaincode deployments write it:
// CHAINCODE_ID, CHAINCODE_SERVER_ADDRESS and TLS from CHAINCODE_TLS_DISABLED
// (TLS off unless it says false), CHAINCODE_TLS_KEY, CHAINCODE_TLS_CERT and
// CHAINCODE_CLIENT_CA_CERT, each a PEM file path.
package main

import (
	"log"
	"os"
	"strconv"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

func getenv(key, fallback string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return fallback
}

func mustRead(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		log.Panicf("reading %s: %v", path, err)
	}
	return data
}

func tlsProperties() shim.TLSProperties {
	disabled, err := strconv.ParseBool(getenv("CHAINCODE_TLS_DISABLED", "true"))
	if err != nil {
		disabled = false
	}
	props := shim.TLSProperties{Disabled: disabled}
	if !disabled {
		props.Key = mustRead(os.Getenv("CHAINCODE_TLS_KEY"))
		props.Cert = mustRead(os.Getenv("CHAINCODE_TLS_CERT"))
	}
	if ca := os.Getenv("CHAINCODE_CLIENT_CA_CERT"); ca != "" {
		props.ClientCACerts = mustRead(ca)
	}
	return props
}

func main() {
	cc, err := contractapi.NewChaincode(&SmartContract{})
	if err != nil {
		log.Panicf("creating the chaincode: %v", err)
	}
	server := &shim.ChaincodeServer{
		CCID:     os.Getenv("CHAINCODE_ID"),
		Address:  os.Getenv("CHAINCODE_SERVER_ADDRESS"),
		CC:       cc,
		TLSProps: tlsProperties(),
	}
	if err := server.Start(); err != nil {
		log.Panicf("serving the chaincode: %v", err)
	}
}
