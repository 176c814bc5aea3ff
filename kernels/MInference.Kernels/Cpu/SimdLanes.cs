using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MInference.Kernels.Cpu;

/// <summary>
/// The few f32 vector operations a register-blocked kernel needs, as static members of a struct so a
/// kernel written once over <typeparamref name="TVector"/> is compiled by the JIT per vector width, with
/// every operation inlined: no delegate or virtual call per element.
/// </summary>
internal unsafe interface ISimdLanes<TVector>
    where TVector : struct
{
    /// <summary>Floats per vector.</summary>
    static abstract int Count { get; }

    static abstract TVector Zero { get; }

    static abstract TVector Load(float* source);

    static abstract TVector Broadcast(float value);

    /// <summary><c>x · y + addend</c>, fused.</summary>
    static abstract TVector MultiplyAdd(TVector x, TVector y, TVector addend);

    static abstract void Store(TVector value, float* destination);
}

/// <summary>AVX2-width lanes: 8 floats.</summary>
internal readonly unsafe struct SimdLanes256 : ISimdLanes<Vector256<float>>
{
    public static int Count => Vector256<float>.Count;

    public static Vector256<float> Zero => Vector256<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(float* source) => Vector256.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Broadcast(float value) => Vector256.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAdd(Vector256<float> x, Vector256<float> y, Vector256<float> addend)
        => Vector256.FusedMultiplyAdd(x, y, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> value, float* destination) => value.Store(destination);
}

/// <summary>AVX-512-width lanes: 16 floats.</summary>
internal readonly unsafe struct SimdLanes512 : ISimdLanes<Vector512<float>>
{
    public static int Count => Vector512<float>.Count;

    public static Vector512<float> Zero => Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(float* source) => Vector512.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Broadcast(float value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAdd(Vector512<float> x, Vector512<float> y, Vector512<float> addend)
        => Vector512.FusedMultiplyAdd(x, y, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, float* destination) => value.Store(destination);
}
