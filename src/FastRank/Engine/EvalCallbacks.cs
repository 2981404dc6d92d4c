using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastRank.Engine;

/// <summary>One reader (or writer) of graph nodes behind a context's eval callback.</summary>
internal interface IEvalHandler
{
    /// <summary>
    /// With <paramref name="ask"/> true: whether the handler wants node <paramref name="t"/> (the graph is then
    /// evaluated up to it and the handler called again with <paramref name="ask"/> false). With it false: whether the
    /// graph goes on (a node the handler did not ask for must answer true).
    /// </summary>
    bool Eval(GgmlTensor t, bool ask);

    /// <summary>Remembers an exception thrown by <see cref="Eval"/> (nothing may unwind into native code).</summary>
    void Fail(string message);
}

/// <summary>
/// The eval callback (<c>cb_eval</c>) of a context whose graph several handlers read: a node is asked for when any
/// handler wants it, and the graph goes on after it only when every handler agrees.
/// </summary>
internal sealed unsafe class EvalCallbacks : IDisposable
{
    private GCHandle _self;
    private readonly IEvalHandler[] _handlers;

    public EvalCallbacks(params IEvalHandler[] handlers)
    {
        _handlers = handlers;
        _self = GCHandle.Alloc(this, GCHandleType.Weak);
    }

    /// <summary>The callback to put in the context parameters.</summary>
    public static IntPtr CallbackPointer => (IntPtr)(delegate* unmanaged[Cdecl]<IntPtr, byte, IntPtr, byte>)&OnEval;

    /// <summary>The user data to put in the context parameters.</summary>
    public IntPtr UserData => GCHandle.ToIntPtr(_self);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte OnEval(IntPtr tensor, byte ask, IntPtr userData)
    {
        bool asking = ask != 0;
        if (GCHandle.FromIntPtr(userData).Target is not EvalCallbacks self) return asking ? (byte)0 : (byte)1;
        var t = new GgmlTensor(tensor);
        bool result = !asking;
        foreach (var h in self._handlers)
        {
            try
            {
                bool r = h.Eval(t, asking);
                result = asking ? result | r : result & r;
            }
            catch (Exception ex)
            {
                // Nothing may unwind into native code: remember it, let the graph finish, throw after the decode.
                h.Fail($"{ex.GetType().Name}: {ex.Message}");
            }
        }
        return result ? (byte)1 : (byte)0;
    }

    public void Dispose()
    {
        if (_self.IsAllocated) _self.Free();
        GC.SuppressFinalize(this);
    }

    ~EvalCallbacks()
    {
        if (_self.IsAllocated) _self.Free();
    }
}
