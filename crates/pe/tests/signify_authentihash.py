#!/usr/bin/env python3
# Prints the Authenticode digests (sha256 sha384 sha512) of each PE file named
# on the command line, computed by the signify package, an
# implementation independent of rvkit-pe.
import sys, types, hashlib
# oscrypto (signify's certificate backend) cannot read this libcrypto's version;
# the digest path never uses it.
sys.modules['oscrypto.asymmetric'] = types.ModuleType('oscrypto.asymmetric')
from signify.authenticode.signed_file.pe import SignedPEFingerprinter
for f in sys.argv[1:]:
    with open(f,'rb') as fh:
        fp = SignedPEFingerprinter(fh); fp.add_signed_pe_hashers(hashlib.sha256, hashlib.sha384, hashlib.sha512)
        h = fp.hashes()['authentihash']
        print(' '.join(h[a].hex() for a in ('sha256','sha384','sha512')))
