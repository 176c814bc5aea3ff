using System.Runtime.InteropServices;

namespace MInference.Kernels.Cuda.Interop;

/// <summary>
/// The slice of the CUDA driver API the backend uses. Entry points are the versioned symbols
/// (<c>_v2</c>) that cuda.h maps its names to, since libcuda exports both and the old ones have
/// 32-bit sizes. Every call returns a CUresult that callers pass to <see cref="CudaException.Check"/>.
/// </summary>
internal static unsafe partial class CudaDriver
{
    internal const string Library = "libcuda.so.1";

    [LibraryImport(Library, EntryPoint = "cuInit")]
    internal static partial int Init(uint flags);

    [LibraryImport(Library, EntryPoint = "cuDriverGetVersion")]
    internal static partial int DriverGetVersion(out int version);

    [LibraryImport(Library, EntryPoint = "cuGetErrorName")]
    internal static partial int GetErrorName(int result, out nint name);

    [LibraryImport(Library, EntryPoint = "cuDeviceGetCount")]
    internal static partial int DeviceGetCount(out int count);

    [LibraryImport(Library, EntryPoint = "cuDeviceGet")]
    internal static partial int DeviceGet(out int device, int ordinal);

    [LibraryImport(Library, EntryPoint = "cuDeviceGetName")]
    internal static partial int DeviceGetName(byte* name, int length, int device);

    [LibraryImport(Library, EntryPoint = "cuDeviceTotalMem_v2")]
    internal static partial int DeviceTotalMem(out nuint bytes, int device);

    [LibraryImport(Library, EntryPoint = "cuDeviceGetAttribute")]
    internal static partial int DeviceGetAttribute(out int value, int attribute, int device);

    [LibraryImport(Library, EntryPoint = "cuDevicePrimaryCtxRetain")]
    internal static partial int DevicePrimaryCtxRetain(out nint context, int device);

    [LibraryImport(Library, EntryPoint = "cuDevicePrimaryCtxRelease_v2")]
    internal static partial int DevicePrimaryCtxRelease(int device);

    [LibraryImport(Library, EntryPoint = "cuCtxSetCurrent")]
    internal static partial int CtxSetCurrent(nint context);

    [LibraryImport(Library, EntryPoint = "cuCtxSynchronize")]
    internal static partial int CtxSynchronize();

    [LibraryImport(Library, EntryPoint = "cuMemGetInfo_v2")]
    internal static partial int MemGetInfo(out nuint free, out nuint total);

    [LibraryImport(Library, EntryPoint = "cuMemAlloc_v2")]
    internal static partial int MemAlloc(out ulong pointer, nuint bytes);

    [LibraryImport(Library, EntryPoint = "cuMemFree_v2")]
    internal static partial int MemFree(ulong pointer);

    [LibraryImport(Library, EntryPoint = "cuMemAllocHost_v2")]
    internal static partial int MemAllocHost(out nint pointer, nuint bytes);

    [LibraryImport(Library, EntryPoint = "cuMemFreeHost")]
    internal static partial int MemFreeHost(nint pointer);

    [LibraryImport(Library, EntryPoint = "cuMemcpyHtoDAsync_v2")]
    internal static partial int MemcpyHtoDAsync(ulong destination, void* source, nuint bytes, nint stream);

    [LibraryImport(Library, EntryPoint = "cuMemcpyDtoHAsync_v2")]
    internal static partial int MemcpyDtoHAsync(void* destination, ulong source, nuint bytes, nint stream);

    [LibraryImport(Library, EntryPoint = "cuMemcpyDtoDAsync_v2")]
    internal static partial int MemcpyDtoDAsync(ulong destination, ulong source, nuint bytes, nint stream);

    [LibraryImport(Library, EntryPoint = "cuMemsetD16Async")]
    internal static partial int MemsetD16Async(ulong destination, ushort value, nuint count, nint stream);

    [LibraryImport(Library, EntryPoint = "cuStreamCreate")]
    internal static partial int StreamCreate(out nint stream, uint flags);

    [LibraryImport(Library, EntryPoint = "cuStreamDestroy_v2")]
    internal static partial int StreamDestroy(nint stream);

    [LibraryImport(Library, EntryPoint = "cuStreamSynchronize")]
    internal static partial int StreamSynchronize(nint stream);

    [LibraryImport(Library, EntryPoint = "cuEventCreate")]
    internal static partial int EventCreate(out nint cudaEvent, uint flags);

    [LibraryImport(Library, EntryPoint = "cuEventDestroy_v2")]
    internal static partial int EventDestroy(nint cudaEvent);

    [LibraryImport(Library, EntryPoint = "cuEventRecord")]
    internal static partial int EventRecord(nint cudaEvent, nint stream);

    [LibraryImport(Library, EntryPoint = "cuEventSynchronize")]
    internal static partial int EventSynchronize(nint cudaEvent);

    [LibraryImport(Library, EntryPoint = "cuEventElapsedTime_v2")]
    internal static partial int EventElapsedTime(out float milliseconds, nint start, nint end);

    [LibraryImport(Library, EntryPoint = "cuModuleLoadData")]
    internal static partial int ModuleLoadData(out nint module, void* image);

    [LibraryImport(Library, EntryPoint = "cuModuleUnload")]
    internal static partial int ModuleUnload(nint module);

    [LibraryImport(Library, EntryPoint = "cuModuleGetFunction")]
    internal static partial int ModuleGetFunction(out nint function, nint module, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    [LibraryImport(Library, EntryPoint = "cuLaunchKernel")]
    internal static partial int LaunchKernel(
        nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedBytes, nint stream, nint* parameters, nint* extra);

    [LibraryImport(Library, EntryPoint = "cuFuncSetAttribute")]
    internal static partial int FuncSetAttribute(nint function, int attribute, int value);

    [LibraryImport(Library, EntryPoint = "cuDeviceCanAccessPeer")]
    internal static partial int DeviceCanAccessPeer(out int canAccess, int device, int peerDevice);

    [LibraryImport(Library, EntryPoint = "cuCtxEnablePeerAccess")]
    internal static partial int CtxEnablePeerAccess(nint peerContext, uint flags);

    [LibraryImport(Library, EntryPoint = "cuCtxDisablePeerAccess")]
    internal static partial int CtxDisablePeerAccess(nint peerContext);

    [LibraryImport(Library, EntryPoint = "cuMemcpyPeerAsync")]
    internal static partial int MemcpyPeerAsync(ulong destination, nint destinationContext, ulong source, nint sourceContext, nuint bytes, nint stream);

    [LibraryImport(Library, EntryPoint = "cuStreamWaitEvent")]
    internal static partial int StreamWaitEvent(nint stream, nint cudaEvent, uint flags);

    [LibraryImport(Library, EntryPoint = "cuEventQuery")]
    internal static partial int EventQuery(nint cudaEvent);

    [LibraryImport(Library, EntryPoint = "cuIpcGetMemHandle")]
    internal static partial int IpcGetMemHandle(out IpcHandle handle, ulong pointer);

    // cuda.h maps cuIpcOpenMemHandle to the _v2 symbol (same arguments, fixed flag handling).
    [LibraryImport(Library, EntryPoint = "cuIpcOpenMemHandle_v2")]
    internal static partial int IpcOpenMemHandle(out ulong pointer, IpcHandle handle, uint flags);

    [LibraryImport(Library, EntryPoint = "cuIpcCloseMemHandle")]
    internal static partial int IpcCloseMemHandle(ulong pointer);

    [LibraryImport(Library, EntryPoint = "cuIpcGetEventHandle")]
    internal static partial int IpcGetEventHandle(out IpcHandle handle, nint cudaEvent);

    [LibraryImport(Library, EntryPoint = "cuIpcOpenEventHandle")]
    internal static partial int IpcOpenEventHandle(out nint cudaEvent, IpcHandle handle);
}

/// <summary>CUipcMemHandle and CUipcEventHandle: 64 opaque bytes, passed by value.</summary>
[System.Runtime.CompilerServices.InlineArray(IpcHandle.Size)]
internal struct IpcHandle
{
    internal const int Size = 64;

    private byte _element0;
}
