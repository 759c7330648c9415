/**
 * A minimal protocol-buffers writer: just what serialising an ONNX ModelProto needs (varints, 32-bit
 * floats, length-delimited strings, bytes and nested messages). Written here rather than pulling in
 * protobufjs: the ONNX schema needs a dozen message types and no reading.
 *
 * A message is built as a list of chunks and only joined once at the end, so the weights (tens of MB as
 * `raw_data`) are copied a single time.
 */

const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

function varintBytes(value: number | bigint): Uint8Array {
  // Negative int32/int64 values are encoded as their 64-bit two's complement: always 10 bytes.
  let v = typeof value === "bigint" ? value : BigInt(value);
  if (v < 0n) v = (1n << 64n) + v;
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

function smallVarint(value: number): Uint8Array {
  // Fast path for the common non-negative values below 2^31 (tags, lengths, dims).
  if (value < 0 || value > 0x7fffffff || !Number.isInteger(value)) return varintBytes(value);
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Uint8Array.from(out);
}

const encoder = new TextEncoder();

/** A protobuf message under construction. Fields are appended in the order written. */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  get byteLength(): number {
    return this.size;
  }

  private push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.size += chunk.byteLength;
  }

  private tag(field: number, wire: number): void {
    this.push(smallVarint((field << 3) | wire));
  }

  /** int32, int64, enum and bool fields. */
  varint(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.push(typeof value === "number" ? smallVarint(value) : varintBytes(value));
    return this;
  }

  /** `float` fields (wire type fixed32, little-endian). */
  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.push(smallVarint(value.byteLength));
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, encoder.encode(value));
  }

  message(field: number, child: ProtoWriter): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.push(smallVarint(child.size));
    for (const c of child.chunks) this.push(c);
    return this;
  }

  /** The whole message as one buffer. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.byteLength;
    }
    return out;
  }
}

/** The bytes of a float32 array in little-endian order (the machine order on every platform Node runs on here). */
export function float32Bytes(data: Float32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function int64Bytes(values: readonly number[]): Uint8Array {
  const b = new Uint8Array(values.length * 8);
  const view = new DataView(b.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return b;
}
