// Command assettransferbasic serves the asset-transfer-basic contract as a
// chaincode server (CCaaS): the peer dials it.
//
//	assettransferbasic --address HOST:PORT --id PACKAGE_ID [--tls-cert F --tls-key F [--tls-client-ca F]]
//
// Every flag defaults to the chaincode-external environment, as in a CCaaS pod:
// CHAINCODE_SERVER_ADDRESS, CHAINCODE_ID (or CORE_CHAINCODE_ID_NAME),
// CHAINCODE_TLS_CERT, CHAINCODE_TLS_KEY, CHAINCODE_CLIENT_CA_CERT; with
// CHAINCODE_TLS_DISABLED=true the TLS variables are ignored.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

const name = "asset-transfer-basic"

// envOr returns the first non-empty environment variable among keys.
func envOr(keys ...string) string {
	for _, k := range keys {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}

func usageError(msg string) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", name, msg)
	os.Exit(2)
}

func readPEM(what, path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot read %s: %v\n", name, what, err)
		os.Exit(1)
	}
	return data
}

func main() {
	address := flag.String("address", envOr("CHAINCODE_SERVER_ADDRESS"), "host:port to listen on (default $CHAINCODE_SERVER_ADDRESS)")
	id := flag.String("id", envOr("CHAINCODE_ID", "CORE_CHAINCODE_ID_NAME"), "the chaincode package ID (default $CHAINCODE_ID)")
	tlsOff := os.Getenv("CHAINCODE_TLS_DISABLED") == "true"
	tlsEnv := func(keys ...string) string {
		if tlsOff {
			return ""
		}
		return envOr(keys...)
	}
	tlsCert := flag.String("tls-cert", tlsEnv("CHAINCODE_TLS_CERT"), "server certificate, PEM (default $CHAINCODE_TLS_CERT)")
	tlsKey := flag.String("tls-key", tlsEnv("CHAINCODE_TLS_KEY"), "server key, PEM (default $CHAINCODE_TLS_KEY)")
	tlsClientCA := flag.String("tls-client-ca", tlsEnv("CHAINCODE_CLIENT_CA_CERT", "CHAINCODE_TLS_CLIENT_CA"), "CA bundle, PEM, client certificates must chain to; makes client auth required (default $CHAINCODE_CLIENT_CA_CERT)")
	flag.Parse()

	if *address == "" || *id == "" {
		usageError("--address and --id (or CHAINCODE_SERVER_ADDRESS and CHAINCODE_ID) are required")
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		usageError("--tls-cert and --tls-key go together")
	}

	tls := shim.TLSProperties{Disabled: true}
	mode := "TLS off"
	if *tlsCert != "" {
		tls = shim.TLSProperties{
			Disabled: false,
			Cert:     readPEM("TLS certificate", *tlsCert),
			Key:      readPEM("TLS key", *tlsKey),
		}
		mode = "TLS on"
		if *tlsClientCA != "" {
			tls.ClientCACerts = readPEM("TLS client CA", *tlsClientCA)
			mode = "TLS on, client certificates required"
		}
	}

	chaincode, err := contractapi.NewChaincode(&SmartContract{})
	if err != nil {
		log.Fatalf("creating %s chaincode: %v", name, err)
	}

	server := &shim.ChaincodeServer{
		CCID:     *id,
		Address:  *address,
		CC:       chaincode,
		TLSProps: tls,
	}

	// Start blocks until the listener fails; leave promptly on SIGTERM/SIGINT.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		os.Exit(0)
	}()

	log.Printf("serving %s as %s on %s (%s)", name, *id, *address, mode)
	if err := server.Start(); err != nil {
		log.Fatalf("%s chaincode server: %v", name, err)
	}
}
