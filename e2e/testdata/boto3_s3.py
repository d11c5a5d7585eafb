"""boto3 against AIS-Go's S3 API: a multipart upload and download of a
100 MiB file, paginated listing of 2,500 keys with a delimiter, a
presigned URL fetched with curl, metadata and a cleanup through versions. Prints one line per check; exits non-zero
on the first failure.

Usage: boto3_s3.py ENDPOINT WORKDIR (keys in AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY)."""

import concurrent.futures
import hashlib
import os
import subprocess
import sys

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    endpoint, work = sys.argv[1], sys.argv[2]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    s3.create_bucket(Bucket="boto")

    big = os.path.join(work, "big.bin")
    with open(big, "wb") as f:
        block = os.urandom(1 << 20)
        for i in range(100):
            f.write(bytes([i]) + block[1:])
    config = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, max_concurrency=4)
    s3.upload_file(big, "boto", "data/big.bin", Config=config)
    head = s3.head_object(Bucket="boto", Key="data/big.bin")
    assert head["ContentLength"] == 100 << 20, head
    assert head["ETag"].endswith('-13"'), "a multipart ETag, got %s" % head["ETag"]
    back = os.path.join(work, "back.bin")
    s3.download_file("boto", "data/big.bin", back, Config=config)
    assert sha256(back) == sha256(big), "the downloaded file differs"
    print("boto3: 100 MiB upload_file (multipart, 13 parts) and download_file: same bytes")

    def put(i):
        s3.put_object(Bucket="boto", Key="keys/%d/%05d" % (i % 5, i), Body=b"%d" % i)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(2500)))
    pages = s3.get_paginator("list_objects_v2")
    prefixes = []
    for page in pages.paginate(Bucket="boto", Prefix="keys/", Delimiter="/", PaginationConfig={"PageSize": 2}):
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        assert not page.get("Contents"), page.get("Contents")
    assert prefixes == ["keys/%d/" % i for i in range(5)], prefixes
    keys = []
    for page in pages.paginate(Bucket="boto", Prefix="keys/3/", Delimiter="/", PaginationConfig={"PageSize": 100}):
        keys += [o["Key"] for o in page.get("Contents", [])]
    assert keys == ["keys/3/%05d" % i for i in range(3, 2500, 5)], keys[:5]
    total = sum(len(page.get("Contents", [])) for page in pages.paginate(Bucket="boto", PaginationConfig={"PageSize": 1000}))
    assert total == 2501, total
    print("boto3: 2,500 keys listed in pages with a delimiter: 5 prefixes, 500 keys in one, 2,501 in all")

    url = s3.generate_presigned_url("get_object", Params={"Bucket": "boto", "Key": "keys/3/00003"}, ExpiresIn=60)
    body = subprocess.run(["curl", "-sf", url], check=True, capture_output=True).stdout
    assert body == b"3", body
    print("boto3: a presigned URL fetched with curl")

    # Metadata keys come back as they were sent (boto3 keeps the case of
    # the headers it gets), and a key with a space lists as itself.
    s3.put_object(Bucket="boto", Key="meta/with space", Body=b"m", Metadata={"camera": "x100", "lens-mm": "23"})
    head = s3.head_object(Bucket="boto", Key="meta/with space")
    assert head["Metadata"] == {"camera": "x100", "lens-mm": "23"}, head["Metadata"]
    listed = s3.list_objects(Bucket="boto", Prefix="meta/")
    assert [o["Key"] for o in listed["Contents"]] == ["meta/with space"], listed["Contents"]
    # A value with a tab: botocore signs it folded into a space.
    s3.put_object(Bucket="boto", Key="meta/tabbed", Body=b"t", Metadata={"note": "a\tb"})
    s3.delete_object(Bucket="boto", Key="meta/tabbed")
    # A bucket empties through its versions, as cleanup tools do it.
    boto = boto3.resource("s3", endpoint_url=endpoint, region_name="us-east-1",
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    boto.Bucket("boto").object_versions.filter(Prefix="meta/").delete()
    assert "Contents" not in s3.list_objects(Bucket="boto", Prefix="meta/")
    print("boto3: metadata keys as sent, a key with a space listed, a prefix emptied through its versions")

    # A client set to another region is told the cluster's (in the error,
    # and in a HEAD's header) and signs again for it, as against S3.
    other = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1",
                         config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    other.put_object(Bucket="boto", Key="regions/k", Body=b"r")
    assert other.get_object(Bucket="boto", Key="regions/k")["Body"].read() == b"r"
    assert other.head_object(Bucket="boto", Key="regions/k")["ContentLength"] == 1
    print("boto3: a client of another region is redirected to the cluster's and served")


if __name__ == "__main__":
    main()
