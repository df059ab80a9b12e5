/**
 * Preload (node --require) that makes the @jazzer.js/fuzzer prebuilt addon load on an older glibc.
 *
 * @jazzer.js/fuzzer 4.0.0 ships fuzzer-linux-x64.node built against glibc 2.38 / GCC 13. Debian 12
 * has glibc 2.36 and libstdc++ of GCC 12, so dlopen fails with
 *   version `GLIBC_2.38' not found (required by .../fuzzer-linux-x64.node)
 * The addon needs only three newer symbols:
 *   __isoc23_strtol, __isoc23_strtoul (GLIBC_2.38)  -> strtol, strtoul (same function without C23's 0b prefixes)
 *   _ZSt21ios_base_library_initv (GLIBCXX_3.4.32)    -> a link-time anchor GCC 13 emits, never called;
 *                                                       renamed to std::ios_base::Init::Init() (GLIBCXX_3.4)
 * This file first tries the original addon. Only when that fails with a GLIBC/GLIBCXX version error
 * does it write a patched copy to fuzz/.cache/ (symbol names rewritten in place in .dynstr; the two
 * version needs retargeted to GLIBC_2.2.5 / GLIBCXX_3.4) and load that instead. node_modules is
 * never modified. On a machine with glibc >= 2.38 it does nothing.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const RENAMES = {
  __isoc23_strtol: 'strtol',
  __isoc23_strtoul: 'strtoul',
  _ZSt21ios_base_library_initv: '_ZNSt8ios_base4InitC1Ev',
};
const RETARGET = { 'GLIBC_2.38': 'GLIBC_2.2.5', 'GLIBCXX_3.4.32': 'GLIBCXX_3.4' };

function elfHash(name) {
  let h = 0;
  for (const ch of Buffer.from(name, 'latin1')) {
    h = ((h << 4) + ch) >>> 0;
    const g = h & 0xf0000000;
    if (g) h ^= g >>> 24;
    h &= ~g >>> 0;
    h >>>= 0;
  }
  return h >>> 0;
}

function patchElf(buf) {
  if (buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1) throw new Error('not a little-endian ELF64 file');
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const secs = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    secs.push({ type: buf.readUInt32LE(o + 4), offset: Number(buf.readBigUInt64LE(o + 0x18)), size: Number(buf.readBigUInt64LE(o + 0x20)), link: buf.readUInt32LE(o + 0x28), entsize: Number(buf.readBigUInt64LE(o + 0x38)) });
  }
  const SHT_DYNSYM = 11, SHT_GNU_verneed = 0x6ffffffe;
  const dynsym = secs.find((s) => s.type === SHT_DYNSYM);
  const dynstr = secs[dynsym.link];
  const str = (off) => { let e = dynstr.offset + off; while (buf[e] !== 0) e++; return buf.toString('latin1', dynstr.offset + off, e); };
  const findStr = (s) => { const i = buf.indexOf(Buffer.from(`\0${s}\0`, 'latin1'), dynstr.offset); if (i < 0 || i >= dynstr.offset + dynstr.size) throw new Error(`no string ${s} in .dynstr`); return i + 1 - dynstr.offset; };
  let renamed = 0;
  for (let o = dynsym.offset; o < dynsym.offset + dynsym.size; o += dynsym.entsize) {
    const nameOff = buf.readUInt32LE(o);
    const to = RENAMES[str(nameOff)];
    if (to === undefined) continue;
    // The new name is shorter: write it over the old one; the bytes after its NUL stay as they were
    // (a suffix shared with another symbol's name starts past the new name's NUL).
    buf.write(`${to}\0`, dynstr.offset + nameOff, 'latin1');
    renamed++;
  }
  const verneed = secs.find((s) => s.type === SHT_GNU_verneed);
  let retargeted = 0;
  if (verneed) {
    let vn = verneed.offset;
    for (;;) {
      const cnt = buf.readUInt16LE(vn + 2);
      let aux = vn + buf.readUInt32LE(vn + 8);
      for (let i = 0; i < cnt; i++) {
        const to = RETARGET[str(buf.readUInt32LE(aux + 8))];
        if (to !== undefined) {
          buf.writeUInt32LE(elfHash(to), aux);
          buf.writeUInt32LE(findStr(to), aux + 8);
          retargeted++;
        }
        const next = buf.readUInt32LE(aux + 12);
        if (!next) break;
        aux += next;
      }
      const next = buf.readUInt32LE(vn + 12);
      if (!next) break;
      vn += next;
    }
  }
  return { renamed, retargeted };
}

const cacheDir = path.join(__dirname, '..', '.cache');
const origDlopen = process.dlopen;
process.dlopen = function dlopen(module, filename, ...rest) {
  try {
    return origDlopen.call(this, module, filename, ...rest);
  } catch (err) {
    const name = String(filename);
    if (!/@jazzer\.js[\\/]fuzzer[\\/]/.test(name) || !/version `GLIBC(XX)?_[\d.]+' not found/.test(String(err && err.message))) throw err;
    fs.mkdirSync(cacheDir, { recursive: true });
    const patched = path.join(cacheDir, `patched-${path.basename(name)}`);
    const src = fs.readFileSync(name);
    const stamp = `${patched}.src-size`;
    if (!fs.existsSync(patched) || !fs.existsSync(stamp) || fs.readFileSync(stamp, 'utf8') !== String(src.length)) {
      const buf = Buffer.from(src);
      patchElf(buf);
      fs.writeFileSync(patched, buf);
      fs.writeFileSync(stamp, String(src.length));
    }
    return origDlopen.call(this, module, patched, ...rest);
  }
};

module.exports = { patchElf };
