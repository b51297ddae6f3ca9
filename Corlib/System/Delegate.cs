using System.Runtime;
using System.Runtime.CompilerServices;

namespace System
{
    /// <summary>
    /// Delegates as ILC 10 lays them out. ILC generates each delegate type's Invoke and the
    /// construction calls to the Initialize* methods below; multicast lists are Wrapper[] in
    /// _helperObject with the count in _extraFunctionPointerOrData.
    /// </summary>
    public abstract class Delegate : ICloneable
    {
        // ILC requires these exact fields.
        internal object _firstParameter;
        internal object _helperObject;
        internal nint _extraFunctionPointerOrData;
        internal IntPtr _functionPointer;

        internal struct Wrapper
        {
            public Wrapper(Delegate value) { Value = value; }
            public Delegate Value;
        }

        private protected const int MulticastThunk = 0;
        private protected const int ClosedStaticThunk = 1;
        private protected const int OpenStaticThunk = 2;
        private protected const int ClosedInstanceThunkOverGenericMethod = 3;
        private protected const int OpenInstanceThunk = 4;
        private protected const int ObjectArrayThunk = 5;

        private protected virtual IntPtr GetThunk(int whichThunk) => IntPtr.Zero;

        private void InitializeClosedInstance(object firstParameter, IntPtr functionPointer)
        {
            if (firstParameter is null) ThrowHelpers.ThrowNullReferenceException();
            _functionPointer = functionPointer;
            _firstParameter = firstParameter;
        }

        private void InitializeClosedInstanceSlow(object firstParameter, IntPtr functionPointer) =>
            InitializeClosedInstance(firstParameter, functionPointer);

        private void InitializeClosedInstanceWithoutNullCheck(object firstParameter, IntPtr functionPointer)
        {
            _functionPointer = functionPointer;
            _firstParameter = firstParameter;
        }

        private unsafe void InitializeClosedInstanceToInterface(object firstParameter, IntPtr dispatchCell)
        {
            if (firstParameter is null) ThrowHelpers.ThrowNullReferenceException();
            _functionPointer = InterfaceDispatch.Resolve(firstParameter, dispatchCell);
            _firstParameter = firstParameter;
        }

        private void InitializeClosedInstanceWithGVMResolution(object firstParameter, IntPtr dispatchCell) =>
            ThrowHelpers.ThrowNotSupported("generic virtual method delegate");

        private void InitializeClosedStaticThunk(object firstParameter, IntPtr functionPointer, IntPtr functionPointerThunk)
        {
            _extraFunctionPointerOrData = functionPointer;
            _helperObject = firstParameter;
            _functionPointer = functionPointerThunk;
            _firstParameter = this;
        }

        private void InitializeOpenStaticThunk(object firstParameter, IntPtr functionPointer, IntPtr functionPointerThunk)
        {
            _firstParameter = this;
            _functionPointer = functionPointerThunk;
            _extraFunctionPointerOrData = functionPointer;
        }

        private void InitializeOpenInstanceThunkDynamic(IntPtr functionPointer, IntPtr functionPointerThunk)
        {
            _firstParameter = this;
            _functionPointer = functionPointerThunk;
            _extraFunctionPointerOrData = functionPointer;
        }

        public object Target => _firstParameter == (object)this ? _helperObject : _firstParameter;

        public object Clone() => MemberwiseCloneDelegate();

        private Delegate MemberwiseCloneDelegate()
        {
            Delegate copy = NewOfSameType();
            copy._firstParameter = _firstParameter == (object)this ? copy : _firstParameter;
            copy._helperObject = _helperObject;
            copy._extraFunctionPointerOrData = _extraFunctionPointerOrData;
            copy._functionPointer = _functionPointer;
            return copy;
        }

        private unsafe Delegate NewOfSameType() => Unsafe.As<Delegate>(RuntimeExports.AllocateObject(GetMethodTable()));

        private Delegate NewMulticastDelegate(Wrapper[] invocationList, int invocationCount)
        {
            Delegate result = NewOfSameType();
            result._functionPointer = GetThunk(MulticastThunk);
            result._firstParameter = result;
            result._helperObject = invocationList;
            result._extraFunctionPointerOrData = invocationCount;
            return result;
        }

        internal int InvocationCount => _helperObject is Wrapper[] ? (int)_extraFunctionPointerOrData : 1;

        internal Delegate InvocationAt(int index) =>
            _helperObject is Wrapper[] list ? list[index].Value : this;

        public static Delegate Combine(Delegate a, Delegate b)
        {
            if (a is null) return b;
            if (b is null) return a;
            int countA = a.InvocationCount, countB = b.InvocationCount;
            var list = new Wrapper[countA + countB];
            for (int i = 0; i < countA; i++) list[i] = new Wrapper(a.InvocationAt(i));
            for (int i = 0; i < countB; i++) list[countA + i] = new Wrapper(b.InvocationAt(i));
            return a.NewMulticastDelegate(list, countA + countB);
        }

        public static Delegate Remove(Delegate source, Delegate value)
        {
            if (source is null) return null;
            if (value is null) return source;
            int count = source.InvocationCount;
            for (int i = count - 1; i >= 0; i--)
            {
                if (!source.InvocationAt(i).SingleEquals(value))
                    continue;
                if (count == 1) return null;
                if (count == 2) return source.InvocationAt(1 - i);
                var list = new Wrapper[count - 1];
                int j = 0;
                for (int k = 0; k < count; k++)
                    if (k != i) list[j++] = new Wrapper(source.InvocationAt(k));
                return source.NewMulticastDelegate(list, count - 1);
            }
            return source;
        }

        private unsafe bool SingleEquals(Delegate other)
        {
            if (other.GetMethodTable() != GetMethodTable()) return false;
            bool selfClosed = _firstParameter == (object)this, otherClosed = other._firstParameter == (object)other;
            if (selfClosed != otherClosed) return false;
            return _functionPointer == other._functionPointer &&
                   _extraFunctionPointerOrData == other._extraFunctionPointerOrData &&
                   (selfClosed ? _helperObject == other._helperObject : _firstParameter == other._firstParameter);
        }

        public override bool Equals(object obj) => obj is Delegate d && SingleEquals(d);
        public override int GetHashCode() => (int)(long)_functionPointer;

        public static bool operator ==(Delegate a, Delegate b) => a is null ? b is null : a.Equals(b);
        public static bool operator !=(Delegate a, Delegate b) => !(a == b);
    }

    public abstract class MulticastDelegate : Delegate
    {
        public override bool Equals(object obj) => base.Equals(obj);
        public override int GetHashCode() => base.GetHashCode();
    }

    public delegate void Action();
    public delegate void Action<in T>(T obj);
    public delegate void Action<in T1, in T2>(T1 arg1, T2 arg2);
    public delegate void Action<in T1, in T2, in T3>(T1 arg1, T2 arg2, T3 arg3);
    public delegate void Action<in T1, in T2, in T3, in T4>(T1 arg1, T2 arg2, T3 arg3, T4 arg4);
    public delegate TResult Func<out TResult>();
    public delegate TResult Func<in T, out TResult>(T arg);
    public delegate TResult Func<in T1, in T2, out TResult>(T1 arg1, T2 arg2);
    public delegate TResult Func<in T1, in T2, in T3, out TResult>(T1 arg1, T2 arg2, T3 arg3);
    public delegate bool Predicate<in T>(T obj);
    public delegate int Comparison<in T>(T x, T y);
    public delegate void EventHandler(object sender, EventArgs e);
    public delegate void EventHandler<TEventArgs>(object sender, TEventArgs e);

    public class EventArgs
    {
        public static readonly EventArgs Empty = new EventArgs();
    }
}
