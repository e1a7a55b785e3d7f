(
(.measurements.sha256 | to_entries)
+
[{"key": "pcr08", "value": $pcr8_val}]
)
| map(
# Clean the hex value
([ (.value | ltrimstr("0x")) ]) as $val |
# Extract number for sorting
(.key | ltrimstr("pcr") | tonumber) as $idx |
# Generate both SNP and TDX entries with fixed expiration
[
{
"name": ("snp_" + .key),
"expiration": "2027-12-12T00:00:00Z",
"value": $val,
"sort_idx": $idx
},
{
"name": ("tdx_" + .key),
"expiration": "2027-12-12T00:00:00Z",
"value": $val,
"sort_idx": $idx
}
]
)
| flatten
| sort_by(.sort_idx, .name)
| map(del(.sort_idx))
