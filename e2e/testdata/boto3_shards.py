"""boto3 fills a bucket with tgz shards for dSort, then reads dSort's
output shards back. Usage: boto3_shards.py put|check ENDPOINT BUCKET
(keys in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)."""

import io
import sys
import tarfile

import boto3
from botocore.config import Config

SHARDS, RECORDS = 8, 25


def main():
    mode, endpoint, bucket = sys.argv[1:4]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    if mode == "put":
        s3.create_bucket(Bucket=bucket)
        for shard in range(SHARDS):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                for record in range(RECORDS):
                    for ext, size in ((".cls", 8), (".jpg", 3000)):
                        data = (b"%03d-%03d%s" % (shard, record, ext.encode())).ljust(size, b"x")
                        info = tarfile.TarInfo("%03d-%03d%s" % (shard, record, ext))
                        info.size = len(data)
                        tar.addfile(info, io.BytesIO(data))
            s3.put_object(Bucket=bucket, Key="in-%03d.tgz" % shard, Body=buf.getvalue())
        print("boto3: %d tgz shards of %d records put" % (SHARDS, RECORDS))
        return
    names, files = set(), 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
                for member in tar.getmembers():
                    data = tar.extractfile(member).read()
                    assert data.startswith(member.name.encode()), member.name
                    names.add(member.name.rsplit(".", 1)[0])
                    files += 1
    assert len(names) == SHARDS * RECORDS and files == 2 * SHARDS * RECORDS, (len(names), files)
    print("boto3: dSort's output read back: %d records, %d files, all intact" % (len(names), files))


if __name__ == "__main__":
    main()
