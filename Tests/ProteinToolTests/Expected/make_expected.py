#!/usr/bin/env python3
"""Expected `protein-tool stats` / `convert` values for the bundled data, from independent tools.

Run from the repository root:
    python3 Tests/ProteinToolTests/Expected/make_expected.py > Tests/ProteinToolTests/Expected/data-stats.json

Counts come from Biopython's parsers (SeqIO 'fasta' and 'swiss'); for FASTA the record count and
total/min/max length are cross-checked against `seqkit stats -a -T` when seqkit is installed.
"""
import collections, gzip, json, subprocess, sys
import Bio
from Bio import SeqIO

STANDARD = "ACDEFGHIKLMNPQRSTVWY"
FILES = [("data/uniprot_sample.fasta.gz", "fasta"), ("data/swissprot_sample.dat", "swiss")]

def summarise(path, fmt):
    opener = gzip.open if path.endswith(".gz") else open
    lengths, counts, first = [], collections.Counter(), []
    with opener(path, "rt") as handle:
        for rec in SeqIO.parse(handle, fmt):
            seq = str(rec.seq)
            lengths.append(len(seq))
            counts.update(seq.upper())
            if len(first) < 3:
                first.append({"id": rec.id if fmt == "fasta" else rec.name,
                              "accessions": rec.annotations.get("accessions", []),
                              "length": len(seq), "sequence": seq})
    total = sum(lengths)
    out = {"file": path, "records": len(lengths), "residues": total,
           "min_length": min(lengths), "max_length": max(lengths),
           "standard_counts": {a: counts.get(a, 0) for a in STANDARD},
           "nonstandard": total - sum(counts.get(a, 0) for a in STANDARD),
           "first_records": first}
    if fmt == "fasta":
        try:
            row = subprocess.run(["seqkit", "stats", "-a", "-T", path], check=True,
                                 capture_output=True, text=True).stdout.splitlines()
            seqkit = dict(zip(row[0].split("\t"), row[1].split("\t")))
            assert int(seqkit["num_seqs"]) == out["records"], seqkit
            assert int(seqkit["sum_len"]) == out["residues"], seqkit
            assert int(seqkit["min_len"]) == out["min_length"] and int(seqkit["max_len"]) == out["max_length"]
            out["seqkit_checked"] = True
        except FileNotFoundError:
            out["seqkit_checked"] = False
    return out

json.dump({"biopython": Bio.__version__, "files": [summarise(p, f) for p, f in FILES]},
          sys.stdout, indent=1)
print()
