// Read a SEG over its source series the way OHIF does, without a browser, and write the labels.
//
//   node read_seg_like_ohif.mjs SEG_FILE SOURCE_FOLDER OUTPUT_PREFIX
//
// OHIF (Cornerstone3D) loads a SEG with @cornerstonejs/adapters' createFromDicomSegImageId:
// metadata comes from a provider, SEG frames from a decodeImageData callback. Here the
// provider is Cornerstone's own metaData registry, filled from the files by dcmjs, and frames
// are decoded by decodeImageFrame of OHIF's image loader (@cornerstonejs/dicom-image-loader),
// the function its web workers run, with the codecs it ships. The labels OHIF ends up with, one labelmap image per
// source image, are written to OUTPUT_PREFIX.raw (in the order of OUTPUT_PREFIX.json's
// sopInstanceUIDs) with the segment metadata in OUTPUT_PREFIX.json.

import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { metaData } from '@cornerstonejs/core';
import { adaptersSEG } from '@cornerstonejs/adapters';
import dcmjs from 'dcmjs';
import dicomImageLoader from '@cornerstonejs/dicom-image-loader';

const { DicomMessage, DicomMetaDictionary } = dcmjs.data;

// OHIF's build copies the codecs' WebAssembly into one folder and points the image loader at it
// (wasmBasePath); here that folder gathers the codec packages' .wasm files.
function wasmFolder() {
  const folder = fileURLToPath(new URL('./node_modules/.ohif-wasm/', import.meta.url));
  mkdirSync(folder, { recursive: true });
  for (const codec of ['codec-charls', 'codec-openjpeg']) {
    const dist = fileURLToPath(new URL(`./node_modules/@cornerstonejs/${codec}/dist/`, import.meta.url));
    for (const name of readdirSync(dist).filter((file) => file.endsWith('.wasm'))) {
      copyFileSync(join(dist, name), join(folder, name));
    }
  }
  return folder;
}
const DECODE_CONFIG = { wasmBasePath: wasmFolder() };
const NATIVE_SYNTAXES = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.1.99']);

function readDataset(path) {
  const bytes = readFileSync(path);
  const message = DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const dataset = DicomMetaDictionary.naturalizeDataset(message.dict);
  dataset._meta = DicomMetaDictionary.namifyDataset(message.meta);
  return dataset;
}

function transferSyntaxOf(dataset) {
  return dataset._meta.TransferSyntaxUID.Value[0];
}

// Cornerstone's metadata modules for one single-frame source image, as its image loader builds them.
function sourceModules(dataset) {
  const orientation = dataset.ImageOrientationPatient.map(Number);
  const spacing = dataset.PixelSpacing.map(Number);
  return {
    instance: dataset,
    generalImageModule: { sopInstanceUID: dataset.SOPInstanceUID, instanceNumber: dataset.InstanceNumber },
    generalSeriesModule: { seriesInstanceUID: dataset.SeriesInstanceUID, modality: dataset.Modality },
    imagePixelModule: {
      samplesPerPixel: dataset.SamplesPerPixel,
      bitsAllocated: dataset.BitsAllocated,
      bitsStored: dataset.BitsStored,
      highBit: dataset.HighBit,
      pixelRepresentation: dataset.PixelRepresentation,
      photometricInterpretation: dataset.PhotometricInterpretation,
    },
    imagePlaneModule: {
      frameOfReferenceUID: dataset.FrameOfReferenceUID,
      rows: dataset.Rows,
      columns: dataset.Columns,
      imageOrientationPatient: orientation,
      rowCosines: orientation.slice(0, 3),
      columnCosines: orientation.slice(3, 6),
      imagePositionPatient: dataset.ImagePositionPatient.map(Number),
      pixelSpacing: spacing,
      rowPixelSpacing: spacing[0],
      columnPixelSpacing: spacing[1],
      sliceThickness: Number(dataset.SliceThickness),
    },
  };
}

// One SEG frame's pixels, decoded as OHIF's image loader decodes them.
async function decodeFrame(seg, frameNumber) {
  const syntax = transferSyntaxOf(seg);
  const imageFrame = {
    rows: seg.Rows,
    columns: seg.Columns,
    bitsAllocated: seg.BitsAllocated,
    bitsStored: seg.BitsStored,
    samplesPerPixel: 1,
    planarConfiguration: 0,
    pixelRepresentation: 0,
    photometricInterpretation: 'MONOCHROME2',
  };
  let frameBytes;
  if (NATIVE_SYNTAXES.has(syntax)) {
    const bytesPerFrame = (seg.Rows * seg.Columns * seg.BitsAllocated) / 8;
    frameBytes = new Uint8Array(seg.PixelData[0], (frameNumber - 1) * bytesPerFrame, bytesPerFrame);
  } else {
    frameBytes = new Uint8Array(seg.PixelData[frameNumber - 1]);
  }
  const decoded = await dicomImageLoader.decodeImageFrame(imageFrame, syntax, frameBytes, DECODE_CONFIG, { preScale: { enabled: false } });
  return decoded.pixelData;
}

async function main() {
  const [segPath, sourceFolder, outputPrefix] = process.argv.slice(2);
  const seg = readDataset(segPath);
  const sources = readdirSync(sourceFolder)
    .map((name) => readDataset(join(sourceFolder, name)))
    .sort((a, b) => Number(a.InstanceNumber) - Number(b.InstanceNumber));

  const modules = new Map();
  const referencedImageIds = sources.map((dataset, index) => {
    const imageId = `source:${index}`;
    modules.set(imageId, sourceModules(dataset));
    return imageId;
  });
  const segImageId = 'seg:0';
  modules.set(segImageId, { instance: seg });
  metaData.addProvider((type, imageId) => modules.get(imageId)?.[type], 10000);

  const result = await adaptersSEG.Cornerstone3D.Segmentation.createFromDicomSegImageId(referencedImageIds, segImageId, {
    metadataProvider: metaData,
    decodeImageData: (_frameImageId, frameNumber) => decodeFrame(seg, frameNumber),
    frameImageIds: Array.from({ length: Number(seg.NumberOfFrames) }, (_, index) => `seg:0?frame=${index + 1}`),
  });

  const slices = result.labelMapImages.flat();
  const arrays = slices.map((image) => (image.voxelManager ? image.voxelManager.getScalarData() : image.getPixelData()));
  const total = arrays.reduce((sum, array) => sum + array.length, 0);
  const labels = new arrays[0].constructor(total);
  arrays.reduce((offset, array) => (labels.set(array, offset), offset + array.length), 0);
  writeFileSync(`${outputPrefix}.raw`, Buffer.from(labels.buffer, labels.byteOffset, labels.byteLength));

  const segments = (result.segMetadata.data || []).filter(Boolean).map((segment) => ({
    number: segment.SegmentNumber,
    label: segment.SegmentLabel,
  }));
  writeFileSync(
    `${outputPrefix}.json`,
    JSON.stringify({
      sopInstanceUIDs: sources.map((dataset) => dataset.SOPInstanceUID),
      rows: sources[0].Rows,
      columns: sources[0].Columns,
      dtype: labels.constructor.name,
      overlappingSegments: Boolean(result.overlappingSegments),
      segments,
    }),
  );
}

main().catch((error) => {
  console.error(error?.stack || String(error));
  process.exit(1);
});
