package policy

import rego.v1

default executables := 33

executables := 3 if {
	input["az-snp-vtpm"].tpm.pcr03 in query_reference_value("snp_pcr03")
	input["az-snp-vtpm"].tpm.pcr09 in query_reference_value("snp_pcr09")
}

default configuration := 36

configuration := 2 if {
	input["az-snp-vtpm"].tpm.pcr08 in query_reference_value("snp_pcr08")
	input["az-snp-vtpm"].tpm.pcr11 in query_reference_value(concat("_", ["snp", "pcr11"]))
}

trust_claims := {"executables": executables, "configuration": configuration}
