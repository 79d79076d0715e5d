#!/usr/bin/env python3
"""Writes expected.json: what Biopython (an independent parser) reads from each fixture.

Run from this folder:  python3 make_expected.py
Needs Biopython (pip install biopython) and, for the record counts, seqkit (apt-get install seqkit).
The Swift tests compare every record our readers return with this file.

For each FASTA record: Biopython's id and description (the whole header line), the sequence
length, its CRC64 (Bio.SeqUtils.CheckSum.crc64) and its first/last residues; for UniProtKB-style
headers also the fields parsed here with regular expressions. For each flat-file entry: the
fields of Bio.SwissProt plus the same sequence summary. seqkit's counts are recorded for FASTA.
"""
import gzip
import json
import re
import subprocess

import Bio
from Bio import SeqIO, SwissProt
from Bio.SeqUtils.CheckSum import crc64

FASTA_FILES = [
    "mmseqs_db_300.fasta.gz",
    "hmmer_globins45.fa",
    "hmmer_20aa-alitest.fa",
    "hmmer_PAX8_HUMAN.fa",
    "hmmer_rndseq400-10.fa.gz",
]
UNIPROT_FILES = ["swissprot_seq.dat.gz", "trembl.dat"]

HEADER_KEY = re.compile(r"(?:^| )(OS|OX|GN|PE|SV)=")


def open_text(path):
    return gzip.open(path, "rt") if path.endswith(".gz") else open(path)


def summary(sequence):
    return {
        "length": len(sequence),
        "crc64": crc64(sequence)[4:],  # Biopython returns "CRC-XXXXXXXXXXXXXXXX"
        "head": sequence[:20],
        "tail": sequence[-10:],
    }


def uniprot_header(description):
    """UniProtKB FASTA header fields, or None; written independently of the Swift parser."""
    first, _, rest = description.partition(" ")
    parts = first.split("|")
    if len(parts) != 3 or parts[0] not in ("sp", "tr") or not parts[1] or not parts[2]:
        return None
    rest = rest.strip()
    keys = list(HEADER_KEY.finditer(rest))
    name_end = keys[0].start() if keys else len(rest)
    values = {}
    for i, match in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(rest)
        values.setdefault(match.group(1), rest[match.end():end].strip())

    def number(text):
        m = re.match(r"\d+", text or "")
        return int(m.group(0)) if m else None

    return {
        "database": parts[0],
        "accession": parts[1],
        "entry_name": parts[2],
        "protein_name": rest[:name_end].strip() or None,
        "organism": values.get("OS"),
        "taxonomy_id": number(values.get("OX")),
        "gene": values.get("GN"),
        "protein_existence": number(values.get("PE")),
        "sequence_version": number(values.get("SV")),
    }


def seqkit_stats(path):
    out = subprocess.run(["seqkit", "stats", "-T", path], check=True, capture_output=True, text=True).stdout
    header, row = out.strip().split("\n")
    fields = dict(zip(header.split("\t"), row.split("\t")))
    return {"num_seqs": int(fields["num_seqs"]), "sum_len": int(fields["sum_len"].replace(",", ""))}


def fasta_expected(path):
    records = []
    with open_text(path) as handle:
        for record in SeqIO.parse(handle, "fasta"):
            entry = {"id": record.id, "description": record.description}
            entry.update(summary(str(record.seq)))
            entry["uniprot"] = uniprot_header(record.description)
            records.append(entry)
    return {"format": "fasta", "records": records, "seqkit": seqkit_stats(path)}


def protein_name(description):
    for key in ("RecName", "SubName"):
        m = re.search(key + r": Full=([^;]*);", description)
        if m:
            return re.sub(r" \{[^}]*\}$", "", m.group(1))
    return None


def uniprot_expected(path):
    records = []
    with open_text(path) as handle:
        entries = list(SwissProt.parse(handle))
    with open_text(path) as handle:
        seqio = list(SeqIO.parse(handle, "swiss"))
    assert len(entries) == len(seqio)
    for entry, record in zip(entries, seqio):
        genes = [g["Name"] for g in entry.gene_name if "Name" in g] if isinstance(entry.gene_name, list) else []
        item = {
            "id": record.id,
            "entry_name": entry.entry_name,
            "description": record.description,
            "reviewed": entry.data_class in ("Reviewed", "STANDARD"),
            "accessions": entry.accessions,
            "protein_name": protein_name(entry.description),
            "organism": entry.organism.rstrip("."),
            "taxonomy_id": int(entry.taxonomy_id[0]) if entry.taxonomy_id else None,
            "gene": genes[0] if genes else None,
            "keywords": entry.keywords,
            "protein_existence": entry.protein_existence or None,
            "sequence_version": entry.sequence_update[1] if entry.sequence_update else None,
            "id_length": entry.sequence_length,
            "sq_length": entry.seqinfo[0],
            "sq_molecular_weight": entry.seqinfo[1],
            "sq_crc64": entry.seqinfo[2],
        }
        item.update(summary(entry.sequence))
        records.append(item)
    return {"format": "uniprot", "records": records}


def main():
    files = {}
    for path in FASTA_FILES:
        files[path] = fasta_expected(path)
    for path in UNIPROT_FILES:
        files[path] = uniprot_expected(path)
    result = {
        "generator": "make_expected.py",
        "biopython": Bio.__version__,
        "seqkit_command": "seqkit stats -T <file>",
        "files": files,
    }
    with open("expected.json", "w") as out:
        json.dump(result, out, indent=1, ensure_ascii=True, sort_keys=True)
        out.write("\n")


if __name__ == "__main__":
    main()
