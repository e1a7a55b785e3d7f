package policy

import rego.v1

# An attestation policy written for rvkit (its built-in policy and its
# tests), in the style of the trustee-operator's default CPU policy: AR4SI
# trust claims with defaults, one rule per platform and claim, and claims
# compared with reference values through query_reference_value. It is not a
# copy of any published policy; the peer-pods reference names (snp_pcr03 ...
# tdx_pcr12) are the ones the operator's policy reads.

default executables := 33

default hardware := 97

default configuration := 36

trust_claims := {
	"executables": executables,
	"hardware": hardware,
	"configuration": configuration,
}

# Peer pods on AMD SEV-SNP with an Azure vTPM.
executables := 3 if {
	input["az-snp-vtpm"]
	input["az-snp-vtpm"].tpm.pcr03 in query_reference_value("snp_pcr03")
	input["az-snp-vtpm"].tpm.pcr08 in query_reference_value("snp_pcr08")
	input["az-snp-vtpm"].tpm.pcr09 in query_reference_value("snp_pcr09")
	input["az-snp-vtpm"].tpm.pcr11 in query_reference_value("snp_pcr11")
	input["az-snp-vtpm"].tpm.pcr12 in query_reference_value("snp_pcr12")
}

hardware := 2 if {
	input["az-snp-vtpm"]
}

configuration := 2 if {
	input["az-snp-vtpm"]
}

# Peer pods on Intel TDX with an Azure vTPM.
executables := 3 if {
	input["az-tdx-vtpm"]
	input["az-tdx-vtpm"].tpm.pcr03 in query_reference_value("tdx_pcr03")
	input["az-tdx-vtpm"].tpm.pcr08 in query_reference_value("tdx_pcr08")
	input["az-tdx-vtpm"].tpm.pcr09 in query_reference_value("tdx_pcr09")
	input["az-tdx-vtpm"].tpm.pcr11 in query_reference_value("tdx_pcr11")
	input["az-tdx-vtpm"].tpm.pcr12 in query_reference_value("tdx_pcr12")
}

hardware := 2 if {
	input["az-tdx-vtpm"]
	input["az-tdx-vtpm"].quote.header.tee_type == "81000000"
}

configuration := 2 if {
	input["az-tdx-vtpm"]
	# input["az-tdx-vtpm"].quote.body.mr_seam in query_reference_value("mr_seam")
	input["az-tdx-vtpm"].quote.body.xfam in query_reference_value("xfam")
}

# Bare-metal SEV-SNP.
executables := 3 if {
	input.snp
	input.snp.measurement in query_reference_value("snp_launch_measurement")
}

hardware := 2 if {
	input.snp
	input.snp.reported_tcb_microcode in query_reference_value("snp_microcode")
}

configuration := 2 if {
	input.snp
	input.snp.policy_abi_major == query_reference_value("snp_guest_abi_major")
}

# Bare-metal TDX.
executables := 3 if {
	input.tdx
	input.tdx.quote.body.mr_td in query_reference_value("mr_td")
	input.tdx.quote.body.rtmr_1 in query_reference_value("rtmr_1")
}

hardware := 2 if {
	input.tdx
	input.tdx.quote.header.tee_type == "81000000"
}
